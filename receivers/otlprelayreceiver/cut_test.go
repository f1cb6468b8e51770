package otlprelayreceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// cutRelay is a relay forwarding to addrs, without listeners or queue: what cutItem and
// exportCut need.
func cutRelay(t *testing.T, addrs ...string) *relay {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Forward.Endpoint = ""
	cfg.Forward.Endpoints = addrs
	cfg.Forward.TLS.Insecure = true
	cfg.Retry = RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond}
	r, err := newRelay(receivertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	r.fwd, err = newForwarder(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(r.fwd.close)
	return r
}

// cutNow cuts req, a traces request, over the gateways up, as queue does, and returns the
// parts of the cut item.
func cutNow(t *testing.T, r *relay, req []byte) []cutPart {
	t.Helper()
	gws, id := r.fwd.router.members(nil)
	require.Greater(t, len(gws), 1)
	item, ok := r.cutItem(make([]byte, itemHeader), otlpwire.Traces, req, gws, id)
	require.True(t, ok)
	require.True(t, isCut(item[8:]))
	parts, ok := appendCutParts(nil, item[8:])
	require.True(t, ok)
	return parts
}

// spanTraces decodes the frames of parts, and returns the trace ID of each span, by span name,
// and the part of each span.
func spanTraces(t *testing.T, r *relay, parts []cutPart) (map[string]uint64, map[string]int) {
	t.Helper()
	traceOf, partOf := map[string]uint64{}, map[string]int{}
	for i, p := range parts {
		raw, err := r.fwd.dec.DecodeAll(p.frame, nil)
		require.NoError(t, err)
		require.Len(t, raw, p.size)
		n, err := otlpwire.Check(otlpwire.Traces, raw)
		require.NoError(t, err)
		require.Equal(t, p.items, n)
		var u ptrace.ProtoUnmarshaler
		req, err := u.UnmarshalTraces(raw)
		require.NoError(t, err)
		for _, rs := range req.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					_, dup := partOf[sp.Name()]
					require.False(t, dup, "span %s in two parts", sp.Name())
					id := sp.TraceID()
					traceOf[sp.Name()], partOf[sp.Name()] = otlpwire.TraceKey(id[:]), i
				}
			}
		}
	}
	return traceOf, partOf
}

// TestCutItemPartsByOwner: a request cut at enqueue over three gateways holds one part per
// gateway that owns spans of it, tagged with that gateway; each span is in exactly one part, the
// part of the gateway its trace ID ranks first; a damaged cut item is refused, never a panic.
func TestCutItemPartsByOwner(t *testing.T) {
	addrs := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"}
	r := cutRelay(t, addrs...)
	req, err := splitTracesRequest(0, 0, 60).MarshalProto()
	require.NoError(t, err)
	parts := cutNow(t, r, req)
	require.Len(t, parts, 3, "60 traces have spans for every gateway")
	gws := r.fwd.router.up(nil)
	traceOf, partOf := spanTraces(t, r, parts)
	require.Len(t, traceOf, 60)
	for name, key := range traceOf {
		require.Equal(t, gws[owner(gws, key)].seed, parts[partOf[name]].seed, "span %s", name)
	}

	gwsNow, id := r.fwd.router.members(nil)
	item, _ := r.cutItem(make([]byte, itemHeader), otlpwire.Traces, req, gwsNow, id)
	data := item[8:]
	for n := range len(data) {
		if _, ok := appendCutParts(nil, data[:n]); ok {
			t.Fatalf("a cut item truncated to %d of %d bytes was read", n, len(data))
		}
	}
}

// TestExportCutFollowsMembership: requests cut for one set of gateways reach, span by span, the
// gateway their trace ID ranks first among the gateways up when they are sent, each span once:
// when a gateway went away (its parts go to the gateway each trace ranks next, the others' as
// they were cut), and when one was added (parts cut without it are split again, so that it
// gets its traces).
func TestExportCutFollowsMembership(t *testing.T) {
	sinks := make([]*sink, 3)
	addrs := make([]string, 3)
	for i := range sinks {
		sinks[i], addrs[i] = startSink(t, "")
	}
	for _, tc := range []struct {
		name       string
		cutFor, up []int // gateways (sinks) up when cut and when sent
	}{
		{"same", []int{0, 1, 2}, []int{0, 1, 2}},
		{"one gone", []int{0, 1, 2}, []int{0, 2}},
		{"one added", []int{0, 1}, []int{0, 1, 2}},
		{"one gone, one added", []int{0, 1}, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range sinks {
				s.mu.Lock()
				s.traces = nil
				s.mu.Unlock()
			}
			r := cutRelay(t, addrs...)
			pick := func(idx []int) []string {
				var out []string
				for _, i := range idx {
					out = append(out, addrs[i])
				}
				return out
			}
			r.fwd.router.set(pick(tc.cutFor), "")
			var parts []cutPart
			const requests, traces = 4, 40
			for i := range requests {
				req, err := splitTracesRequest(i, 0, traces).MarshalProto()
				require.NoError(t, err)
				parts = append(parts, cutNow(t, r, req)...)
			}
			r.fwd.router.set(pick(tc.up), "")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.True(t, r.exportCut(ctx, otlpwire.Traces, parts))

			gws := r.fwd.router.up(nil)
			sinkOf := map[string]int{}
			for i, a := range addrs {
				sinkOf[a] = i
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				got, _ := spansAt(sinks)
				if len(got) != requests*traces {
					return fmt.Errorf("%d spans delivered, want %d", len(got), requests*traces)
				}
				for tr := range traces {
					var tid [16]byte
					tid[15] = byte(tr + 1)
					want := sinkOf[gws[owner(gws, otlpwire.TraceKey(tid[:]))].addr]
					for rq := range requests {
						name := fmt.Sprintf("t%d-r%d", tr, rq)
						for s, n := range got[name] {
							if (s == want && n != 1) || (s != want && n != 0) {
								return fmt.Errorf("span %s at gateways %v, want once at %d", name, got[name], want)
							}
						}
					}
				}
				return nil
			})
		})
	}
}
