package redconnector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// pair is the contrib spanmetrics connector (v0.162.0, configured as vigil shipped it: exemplars
// on, default histogram) and the red connector, fed the same spans and flushed together.
type pair struct {
	contrib     connector.Traces
	clock       *clockwork.FakeClock
	contribSink *consumertest.MetricsSink
	red         *harness
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{clock: clockwork.NewFakeClock(), contribSink: &consumertest.MetricsSink{}}
	f := spanmetricsconnector.NewFactory()
	cfg := f.CreateDefaultConfig().(*spanmetricsconnector.Config)
	cfg.Exemplars.Enabled = true
	cfg.MetricsFlushInterval = 15 * time.Second
	set := connectortest.NewNopSettings(f.Type())
	set.Resource.Attributes().PutStr("collector.instance.id", "gateway-0")
	ctx := clockwork.AddToContext(context.Background(), p.clock)
	c, err := f.CreateTracesToMetrics(ctx, set, cfg, p.contribSink)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	p.contrib = c
	p.red = newHarness(t, nil)
	return p
}

func (p *pair) send(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, p.contrib.ConsumeTraces(context.Background(), td))
	require.NoError(t, p.red.c.ConsumeTraces(context.Background(), td))
}

// flush flushes both and returns their data points, normalised.
func (p *pair) flush(t *testing.T) (contrib, red []string) {
	t.Helper()
	n := len(p.contribSink.AllMetrics())
	p.clock.Advance(15 * time.Second)
	require.Eventually(t, func() bool { return len(p.contribSink.AllMetrics()) > n }, 10*time.Second, time.Millisecond)
	contrib = normalise(p.contribSink.AllMetrics()[n])
	p.red.sink.Reset()
	require.NoError(t, p.red.c.flush(context.Background()))
	if all := p.red.sink.AllMetrics(); len(all) > 0 {
		red = normalise(all[0])
	}
	return contrib, red
}

// normalise writes each data point as one line — resource attributes, scope, metric name, unit,
// type, temporality, data point attributes, value (count, sum, bounds, bucket counts) and
// exemplars (trace ID, span ID, value) — sorted; timestamps are left out (the clocks differ).
func normalise(md pmetric.Metrics) []string {
	var out []string
	attrs := func(m pcommon.Map) string {
		var kv []string
		for k, v := range m.All() {
			kv = append(kv, fmt.Sprintf("%s=%s(%s)", k, v.AsString(), v.Type()))
		}
		slices.Sort(kv)
		return strings.Join(kv, ",")
	}
	exemplars := func(es pmetric.ExemplarSlice) string {
		var s []string
		for _, e := range es.All() {
			s = append(s, fmt.Sprintf("%s/%s/%v", e.TraceID(), e.SpanID(), e.DoubleValue()))
		}
		return strings.Join(s, " ")
	}
	for _, rm := range md.ResourceMetrics().All() {
		res := attrs(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				head := fmt.Sprintf("%s | %s | %s %q %s", res, sm.Scope().Name(), m.Name(), m.Unit(), m.Type())
				switch m.Type() {
				case pmetric.MetricTypeSum:
					head += fmt.Sprintf(" %s monotonic=%v", m.Sum().AggregationTemporality(), m.Sum().IsMonotonic())
					for _, dp := range m.Sum().DataPoints().All() {
						out = append(out, fmt.Sprintf("%s | %s | %d | %s", head, attrs(dp.Attributes()), dp.IntValue(), exemplars(dp.Exemplars())))
					}
				case pmetric.MetricTypeHistogram:
					head += " " + m.Histogram().AggregationTemporality().String()
					for _, dp := range m.Histogram().DataPoints().All() {
						out = append(out, fmt.Sprintf("%s | %s | count=%d sum=%v bounds=%v buckets=%v min=%v max=%v | %s", head, attrs(dp.Attributes()),
							dp.Count(), dp.Sum(), dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw(), dp.HasMin(), dp.HasMax(), exemplars(dp.Exemplars())))
					}
				default:
					out = append(out, head+" unexpected type")
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// spansFrom makes a batch from bytes, five per span: resource (service, cluster, pod; one in 8
// has no service.name), span name, kind and status (values out of the enumerations included),
// duration (bounds exactly, between, negative, beyond the last), trace ID (sometimes empty) and
// tracestate (none, another vendor's, or an OpenTelemetry threshold of 50% or 25%).
func spansFrom(ops []byte) ptrace.Traces {
	td := ptrace.NewTraces()
	res := map[byte]ptrace.SpanSlice{}
	durations := []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 50 * time.Millisecond,
		1400 * time.Millisecond, 15 * time.Second, 16 * time.Second, -time.Second, 123456789}
	states := []string{"", "", "", "vendor=x", "ot=th:8", "ot=th:c;rv:1234567890abcd", "ot=th:zz"}
	for i := 0; len(ops) >= 5; i++ {
		a, b, c, d, e := ops[0], ops[1], ops[2], ops[3], ops[4]
		ops = ops[5:]
		r := a % 8
		ss, ok := res[r]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			at := rs.Resource().Attributes()
			switch r {
			case 7:
			case 6:
				at.PutInt("service.name", 6)
			default:
				at.PutStr("service.name", []string{"frontend", "backend", "db"}[r%3])
			}
			at.PutStr("k8s.cluster.name", []string{"a", "b"}[r%2])
			at.PutStr("k8s.pod.name", fmt.Sprint("pod-", r))
			if r == 5 {
				at.PutInt("k8s.replicas", 3)
			}
			ss = rs.ScopeSpans().AppendEmpty().Spans()
			res[r] = ss
		}
		sp := ss.AppendEmpty()
		sp.SetName([]string{"GET /", "POST /orders", "SELECT", ""}[b%4])
		sp.SetKind(ptrace.SpanKind(b / 4 % 8))
		sp.Status().SetCode(ptrace.StatusCode(c % 4))
		dur := durations[int(c/4)%len(durations)]
		sp.SetStartTimestamp(1_700_000_000_000_000_000)
		sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + dur.Nanoseconds()))
		if d%5 != 0 {
			sp.SetTraceID(pcommon.TraceID{d, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, e})
		}
		sp.SetSpanID(pcommon.SpanID{byte(i), d, e, 1, 2, 3, 4, 5})
		if ts := states[int(e)%len(states)]; ts != "" {
			sp.TraceState().FromRaw(ts)
		}
	}
	return td
}

// TestSameDataPointsAsSpanmetrics: the same spans through the contrib spanmetrics connector and
// the red connector give the same data points — names, units, types, resource and data point
// attributes, calls, counts, sums, bounds, bucket counts, exemplars — flush after flush.
func TestSameDataPointsAsSpanmetrics(t *testing.T) {
	p := newPair(t)
	ops := make([]byte, 0, 5*400)
	for i := range 400 {
		ops = append(ops, byte(i*7), byte(i*13), byte(i*31), byte(i*3), byte(i*11))
	}
	for round := range 3 {
		p.send(t, spansFrom(ops[round*100:]))
		p.send(t, spansFrom(ops[:round*50+5]))
		contrib, red := p.flush(t)
		require.NotEmpty(t, contrib)
		require.Equal(t, contrib, red, "flush %d", round)
	}
}

// FuzzSameDataPointsAsSpanmetrics: whatever the spans (tracestates with a threshold whose
// inverse is whole, so that the counts are not rounded at random), both connectors agree.
func FuzzSameDataPointsAsSpanmetrics(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 1, 5, 9, 2, 2, 7, 6, 6, 0, 1, 3, 8, 40, 3, 4})
	f.Add([]byte{5, 44, 255, 1, 0, 6, 8, 3, 3, 3, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 5*200 {
			ops = ops[:5*200]
		}
		p := newPair(t)
		half := len(ops) / 10 * 5
		p.send(t, spansFrom(ops[:half]))
		contrib, red := p.flush(t)
		require.Equal(t, contrib, red)
		p.send(t, spansFrom(ops[half:]))
		contrib, red = p.flush(t)
		require.Equal(t, contrib, red)
	})
}
