package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

// TestSpansOfATraceMeetOnOneGateway: two agents (deploy/config/agent.yaml, forward::endpoints
// of three real gateways, the default forward::routing) take spans of many traces, each trace's
// spans coming through both agents in several requests. Every span reaches the trace backend
// behind the gateways once, all spans of a trace through the same gateway, and the traces spread
// over all three. Then one gateway is SIGKILLed while the agents take more traces: every span
// the agents acknowledged is delivered (at least once: the killed gateway drains its own
// durable queue when it is back), and the traces sent after the kill each meet on one of the
// two others.
func TestSpansOfATraceMeetOnOneGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five vigil processes; skipped with -short")
	}
	ca := testutil.NewCA(t)
	type gw struct {
		addr, dir, health string
		port              int
		sink              *traceSink
		sinkAddr          string
		proc              *gatewayProc
	}
	gws := make([]*gw, 3)
	start := func(g *gw) {
		g.proc = runGateway(t, ca, g.addr, []string{"VIGIL_TRACES_ENDPOINT=" + g.sinkAddr, "VIGIL_TRACES_INSECURE=true"}, "",
			g.dir, g.health, g.port)
	}
	for i := range gws {
		g := &gw{addr: testutil.FreeAddr(t), dir: t.TempDir(), health: testutil.FreeAddr(t), port: testutil.FreePort(t)}
		g.sink, g.sinkAddr = startTraceSink(t)
		start(g)
		gws[i] = g
	}
	extra := filepath.Join(t.TempDir(), "gateways.yaml")
	require.NoError(t, os.WriteFile(extra, fmt.Appendf(nil, `
receivers:
  otlprelay:
    forward:
      endpoint: ""
      endpoints: [%q, %q, %q]
`, gws[0].addr, gws[1].addr, gws[2].addr), 0o600))
	var agents [2]string
	for i := range agents {
		spec := newAgentSpec(t, fmt.Sprintf("agent-%d", i), "cluster-a", ca.Issue(t, "vigil-agent.cluster-a"), ca.CertFile, gws[0].addr)
		spec.extraConfig = extra
		spec.start(t)
		agents[i] = "http://" + spec.otlpHTTP + "/v1/traces"
	}
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(ctx context.Context, agent int, body []byte) bool {
		code, err := postOTLP(ctx, client, agents[agent], body)
		return err == nil && code == http.StatusOK
	}
	// where returns, per trace, the gateways its spans reached, and how often each span arrived.
	where := func(traces map[int][]string) (map[int]map[int]bool, map[string]int) {
		at, times := map[int]map[int]bool{}, map[string]int{}
		for tr, names := range traces {
			at[tr] = map[int]bool{}
			for _, n := range names {
				for i, g := range gws {
					if c := g.sink.count(n); c > 0 {
						at[tr][i] = true
						times[n] += c
					}
				}
			}
		}
		return at, times
	}
	delivered := func(traces map[int][]string, exactlyOnce bool) func() error {
		return func() error {
			_, times := where(traces)
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

	// Phase 1: 60 traces, each with 4 spans in each of 10 requests, alternately to each agent.
	phase1 := map[int][]string{}
	traceIDs := make([]int, 60)
	for i := range traceIDs {
		traceIDs[i] = i
	}
	for r := range 10 {
		body, names := tracesBody(t, traceIDs, 4, fmt.Sprintf("p1r%d", r))
		require.True(t, post(context.Background(), r%2, body), "request %d acknowledged", r)
		for _, n := range names {
			var tr int
			_, _ = fmt.Sscanf(n, "t%d-", &tr)
			phase1[tr] = append(phase1[tr], n)
		}
	}
	testutil.Eventually(t, 60*time.Second, delivered(phase1, true))
	at, _ := where(phase1)
	perGateway := make([]int, len(gws))
	for tr, g := range at {
		require.Len(t, g, 1, "all spans of trace %d reached one gateway: %v", tr, g)
		for i := range g {
			perGateway[i]++
		}
	}
	for i, n := range perGateway {
		require.Positive(t, n, "gateway %d got no trace: %v", i, perGateway)
	}
	t.Logf("phase 1: 2400 spans of 60 traces through 2 agents, each once; traces per gateway %v", perGateway)

	// Phase 2: clients send new traces to both agents; the gateway with the most traces is
	// SIGKILLed mid-load.
	killed := 0
	for i, n := range perGateway {
		if n > perGateway[killed] {
			killed = i
		}
	}
	var (
		mu       sync.Mutex
		acked    = map[int][]string{} // trace -> its acknowledged spans
		afterish = map[int]bool{}     // traces whose first request was sent after the kill
		killedAt time.Time
		wg       sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	defer func() { stop(); wg.Wait() }()
	for c := range 2 {
		wg.Go(func() {
			for b := 0; ctx.Err() == nil && b < 400; b++ {
				trs := make([]int, 5)
				for i := range trs {
					trs[i] = 1000 + c*100_000 + b*5 + i
				}
				mu.Lock()
				after := !killedAt.IsZero()
				mu.Unlock()
				// Each trace's spans go through both agents: agent c first, then the other.
				for k, agent := range []int{c, 1 - c} {
					body, names := tracesBody(t, trs, 3, fmt.Sprintf("c%d-b%d-%d", c, b, k))
					for ctx.Err() == nil && !post(ctx, agent, body) {
						time.Sleep(50 * time.Millisecond)
					}
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					for _, n := range names {
						var tr int
						_, _ = fmt.Sscanf(n, "t%d-", &tr)
						acked[tr] = append(acked[tr], n)
						if after {
							afterish[tr] = true
						}
					}
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(2 * time.Second)
	require.NoError(t, gws[killed].proc.proc.Cmd.Process.Kill()) // SIGKILL, mid-load
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	_, _ = gws[killed].proc.proc.Stop(5 * time.Second)
	time.Sleep(3 * time.Second)
	stop()
	wg.Wait()
	require.False(t, t.Failed())

	mu.Lock()
	sent := map[int][]string{}
	for tr, names := range acked {
		sent[tr] = names
	}
	mu.Unlock()
	// Traces sent only after the kill meet on one of the two others, as soon as they are delivered.
	survivors := map[int][]string{}
	for tr := range afterish {
		survivors[tr] = sent[tr]
	}
	require.NotEmpty(t, survivors, "traces were sent after the kill")
	testutil.Eventually(t, 60*time.Second, delivered(survivors, false))
	at, _ = where(survivors)
	for tr, g := range at {
		require.Len(t, g, 1, "all spans of trace %d sent after the kill reached one gateway: %v", tr, g)
		require.False(t, g[killed], "trace %d sent after the kill reached the killed gateway", tr)
	}

	// The killed gateway restarts on its volume: what it acknowledged drains to its backend.
	start(gws[killed])
	testutil.Eventually(t, 90*time.Second, delivered(sent, false))
	_, times := where(sent)
	spans, dups := 0, 0
	for _, names := range sent {
		for _, n := range names {
			spans++
			if times[n] > 1 {
				dups++
			}
		}
	}
	t.Logf("phase 2: gateway %d SIGKILLed mid-load; %d acknowledged spans of %d traces all delivered (%d more than once); %d traces sent after the kill each met on one surviving gateway",
		killed, spans, len(sent), dups, len(survivors))
}
