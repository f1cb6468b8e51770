package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// traceSink is a trace backend (OTLP/gRPC) that counts the spans it takes, by name.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu    sync.Mutex
	spans map[string]int
}

func (s *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.Traces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.spans[sp.Name()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *traceSink) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spans[name]
}

func startTraceSink(t *testing.T) (*traceSink, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	sink := &traceSink{spans: map[string]int{}}
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sink, l.Addr().String()
}

// tracesBody is an OTLP/HTTP request holding, for each trace of traces, spans spans named
// "t<trace>-<tag>-<i>".
func tracesBody(t *testing.T, traces []int, spans int, tag string) ([]byte, []string) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	var names []string
	for _, tr := range traces {
		for i := range spans {
			sp := ss.Spans().AppendEmpty()
			var id [16]byte
			binary.BigEndian.PutUint64(id[:8], uint64(tr)*0x9e3779b97f4a7c15)
			binary.BigEndian.PutUint64(id[8:], uint64(tr))
			sp.SetTraceID(id)
			sp.SetSpanID([8]byte{byte(i), byte(len(names)), byte(len(names) >> 8), 1})
			name := fmt.Sprintf("t%d-%s-%d", tr, tag, i)
			sp.SetName(name)
			names = append(names, name)
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return b, names
}

// spanLoad sends spans of many traces through two agents that forward to the same gateways
// (forward::endpoints, the default forward::routing: traces by trace ID), each trace's spans
// through both agents in several requests, and checks where they land: all spans of a trace on
// one gateway. It is the trace part of TestThreeGatewaysTwoAgentsOneTruth.
type spanLoad struct {
	t      *testing.T
	sinks  []*traceSink // one per gateway
	agents [2]string    // OTLP/HTTP /v1/traces of each agent
	client *http.Client

	mu        sync.Mutex
	acked     map[int][]string // trace -> its acknowledged spans (phase 2)
	afterKill map[int]bool     // traces whose first request was sent after the kill
	killedAt  time.Time
	perGW     []int // traces per gateway in phase 1
	survivors int
	dups      int
}

func newSpanLoad(t *testing.T, sinks []*traceSink, agentA, agentB string) *spanLoad {
	return &spanLoad{t: t, sinks: sinks, agents: [2]string{agentA, agentB}, client: &http.Client{Timeout: 5 * time.Second},
		acked: map[int][]string{}, afterKill: map[int]bool{}}
}

func (l *spanLoad) post(ctx context.Context, agent int, body []byte) bool {
	code, err := postOTLP(ctx, l.client, l.agents[agent], body)
	return err == nil && code == http.StatusOK
}

// where returns, per trace, the gateways its spans reached, and how often each span arrived.
func (l *spanLoad) where(traces map[int][]string) (map[int]map[int]bool, map[string]int) {
	at, times := map[int]map[int]bool{}, map[string]int{}
	for tr, names := range traces {
		at[tr] = map[int]bool{}
		for _, n := range names {
			for i, s := range l.sinks {
				if c := s.count(n); c > 0 {
					at[tr][i] = true
					times[n] += c
				}
			}
		}
	}
	return at, times
}

func (l *spanLoad) delivered(traces map[int][]string, exactlyOnce bool) func() error {
	return func() error {
		_, times := l.where(traces)
		for tr, names := range traces {
			for _, n := range names {
				switch c := times[n]; {
				case c == 0:
					return fmt.Errorf("span %s of trace %d not delivered", n, tr)
				case c > 1 && exactlyOnce:
					return fmt.Errorf("span %s delivered %d times", n, c)
				}
			}
		}
		return nil
	}
}

// phase1 sends 60 traces, each with 4 spans in each of 10 requests, alternately to each agent,
// with every gateway up: each span is delivered once, all spans of a trace on one gateway, and
// every gateway gets traces. It returns the spans sent, by trace.
func (l *spanLoad) phase1() map[int][]string {
	t := l.t
	t.Helper()
	sent := map[int][]string{}
	traceIDs := make([]int, 60)
	for i := range traceIDs {
		traceIDs[i] = i
	}
	for r := range 10 {
		body, names := tracesBody(t, traceIDs, 4, fmt.Sprintf("p1r%d", r))
		require.True(t, l.post(context.Background(), r%2, body), "request %d acknowledged", r)
		for _, n := range names {
			var tr int
			_, _ = fmt.Sscanf(n, "t%d-", &tr)
			sent[tr] = append(sent[tr], n)
		}
	}
	testutil.Eventually(t, 60*time.Second, l.delivered(sent, true))
	at, _ := l.where(sent)
	l.perGW = make([]int, len(l.sinks))
	for tr, g := range at {
		require.Len(t, g, 1, "all spans of trace %d reached one gateway: %v", tr, g)
		for i := range g {
			l.perGW[i]++
		}
	}
	for i, n := range l.perGW {
		require.Positive(t, n, "gateway %d got no trace: %v", i, l.perGW)
	}
	return sent
}

// startPhase2 has two clients send new traces, each through both agents, until ctx ends (at
// most 400 batches each); killed marks the time a gateway was killed.
func (l *spanLoad) startPhase2(ctx context.Context, wg *sync.WaitGroup) {
	for c := range 2 {
		wg.Go(func() {
			for b := 0; ctx.Err() == nil && b < 400; b++ {
				trs := make([]int, 5)
				for i := range trs {
					trs[i] = 1000 + c*100_000 + b*5 + i
				}
				l.mu.Lock()
				after := !l.killedAt.IsZero()
				l.mu.Unlock()
				// Each trace's spans go through both agents: agent c first, then the other.
				for k, agent := range []int{c, 1 - c} {
					body, names := tracesBody(l.t, trs, 3, fmt.Sprintf("c%d-b%d-%d", c, b, k))
					for ctx.Err() == nil && !l.post(ctx, agent, body) {
						time.Sleep(50 * time.Millisecond)
					}
					if ctx.Err() != nil {
						return
					}
					l.mu.Lock()
					for _, n := range names {
						var tr int
						_, _ = fmt.Sscanf(n, "t%d-", &tr)
						l.acked[tr] = append(l.acked[tr], n)
						if after {
							l.afterKill[tr] = true
						}
					}
					l.mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func (l *spanLoad) killed(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.killedAt = at
}

// checkAfterKill: the traces sent only after gateway killed died each meet on one of the others.
func (l *spanLoad) checkAfterKill(killed int) {
	t := l.t
	t.Helper()
	survivors := map[int][]string{}
	l.mu.Lock()
	for tr := range l.afterKill {
		survivors[tr] = l.acked[tr]
	}
	l.mu.Unlock()
	require.NotEmpty(t, survivors, "traces were sent after the kill")
	testutil.Eventually(t, 60*time.Second, l.delivered(survivors, false))
	at, _ := l.where(survivors)
	for tr, g := range at {
		require.Len(t, g, 1, "all spans of trace %d sent after the kill reached one gateway: %v", tr, g)
		require.False(t, g[killed], "trace %d sent after the kill reached the killed gateway", tr)
	}
	l.survivors = len(survivors)
}

// checkDelivered: every acknowledged span of phase 2 (and those of phase1) is delivered at least
// once, once the killed gateway is back.
func (l *spanLoad) checkDelivered(phase1 map[int][]string) {
	t := l.t
	t.Helper()
	sent := map[int][]string{}
	l.mu.Lock()
	for tr, names := range l.acked {
		sent[tr] = names
	}
	l.mu.Unlock()
	for tr, names := range phase1 {
		sent[tr] = names
	}
	testutil.Eventually(t, 90*time.Second, l.delivered(sent, false))
	_, times := l.where(sent)
	for _, names := range sent {
		for _, n := range names {
			if times[n] > 1 {
				l.dups++
			}
		}
	}
}

func (l *spanLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	spans := 0
	for _, names := range l.acked {
		spans += len(names)
	}
	return fmt.Sprintf("spans: 2400 of 60 traces before the kill, each once, traces per gateway %v; %d acknowledged spans of %d traces during the kill all delivered (%d more than once), %d traces sent after it each on one survivor",
		l.perGW, spans, len(l.acked), l.dups, l.survivors)
}
