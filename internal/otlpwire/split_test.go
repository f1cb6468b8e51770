package otlpwire

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// splitTraces has spans of 7 traces spread over 4 resources of 2 scopes each, so that every
// trace has spans in several resources and scopes.
func splitTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	n := 0
	for i := range 4 {
		rs := td.ResourceSpans().AppendEmpty()
		fillResource(rs.Resource(), i)
		rs.SetSchemaUrl(fmt.Sprintf("https://example.com/r%d", i))
		for j := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			fillScope(ss.Scope(), j)
			ss.SetSchemaUrl(fmt.Sprintf("https://example.com/s%d", j))
			for k := range 30 {
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(traceID(n % 7))
				sp.SetSpanID(spanID(n))
				sp.SetName(fmt.Sprintf("span-%d-%d-%d", i, j, k))
				fillAttributes(sp.Attributes(), n)
				n++
			}
		}
	}
	// A span without trace ID: routed like any other (by the hash of the empty ID).
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty().SetName("no trace id")
	return td
}

// flatSpans returns each span of td with its resource and scope, as one string per span.
func flatSpans(t *testing.T, td ptrace.Traces) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				ors.SetSchemaUrl(rs.SchemaUrl())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				oss.SetSchemaUrl(ss.SchemaUrl())
				sp.CopyTo(oss.Spans().AppendEmpty())
				b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(one)
				require.NoError(t, err)
				out[string(b)]++
			}
		}
	}
	return out
}

// TestSplitTraces: split over 3 parts, every span lands in exactly one part, with its resource
// and scope as they were; all spans of a trace are in one part, the part owner gives its key;
// the parts' counts are their spans.
func TestSplitTraces(t *testing.T) {
	td := splitTraces()
	req := marshal(t, td)
	owner := func(k uint64) int { return int(k % 3) }
	var sp Splitter
	for range 2 { // the second time on reused buffers
		parts, items, err := sp.Split(Traces, req, 3, owner)
		require.NoError(t, err)
		require.Len(t, parts, 3)
		got := map[string]int{}
		traceParts := map[pcommon.TraceID]int{}
		total := 0
		for i, p := range parts {
			n, err := Check(Traces, p)
			require.NoError(t, err, "part %d is a valid request", i)
			require.Equal(t, n, items[i], "part %d's count", i)
			total += n
			pt, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(p)
			require.NoError(t, err)
			for s, c := range flatSpans(t, pt) {
				got[s] += c
			}
			for _, rs := range pt.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						id := s.TraceID()
						if prev, ok := traceParts[id]; ok {
							require.Equal(t, prev, i, "all spans of trace %s in one part", id)
						}
						traceParts[id] = i
						require.Equal(t, owner(traceKey(s)), i, "the owner of its key")
					}
				}
			}
		}
		require.Equal(t, td.SpanCount(), total)
		require.Equal(t, flatSpans(t, td), got, "each span once, with its resource and scope")
		require.Len(t, traceParts, 8)
		used := 0
		for _, p := range parts {
			if len(p) > 0 {
				used++
			}
		}
		require.Greater(t, used, 1, "8 traces over 3 parts use more than one")
	}
}

// traceKey is the routing key of s: TraceKey of its ID, of no bytes when it has none.
func traceKey(s ptrace.Span) uint64 {
	if s.TraceID().IsEmpty() {
		return TraceKey(nil)
	}
	id := s.TraceID()
	return TraceKey(id[:])
}

// TestSplitOnePart: with one part, the part holds the whole request, as pdata reads it.
func TestSplitOnePart(t *testing.T) {
	td := splitTraces()
	var sp Splitter
	parts, items, err := sp.Split(Traces, marshal(t, td), 1, func(uint64) int { return 0 })
	require.NoError(t, err)
	require.Equal(t, []int{td.SpanCount()}, items)
	pt, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(parts[0])
	require.NoError(t, err)
	require.Equal(t, flatSpans(t, td), flatSpans(t, pt))
}

// flatPoints returns each data point of md with its resource, scope and metric (name,
// description, unit, metadata, type, temporality, monotonicity), one string per point, and the
// series of each (resource attributes, name, point attributes).
func flatPoints(t *testing.T, md pmetric.Metrics) (points map[string]int, series map[string]string) {
	t.Helper()
	points, series = map[string]int{}, map[string]string{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				n := metricPoints(m)
				for i := range max(n, 1) {
					one := pmetric.NewMetrics()
					orm := one.ResourceMetrics().AppendEmpty()
					rm.Resource().CopyTo(orm.Resource())
					orm.SetSchemaUrl(rm.SchemaUrl())
					osm := orm.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(osm.Scope())
					osm.SetSchemaUrl(sm.SchemaUrl())
					om := osm.Metrics().AppendEmpty()
					m.CopyTo(om)
					var attrs pcommon.Map
					keep := func(j int) bool { j--; return j != i }
					j := 0
					next := func() bool { j++; return keep(j) }
					switch om.Type() {
					case pmetric.MetricTypeGauge:
						om.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return next() })
						if n > 0 {
							attrs = om.Gauge().DataPoints().At(0).Attributes()
						}
					case pmetric.MetricTypeSum:
						om.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return next() })
						if n > 0 {
							attrs = om.Sum().DataPoints().At(0).Attributes()
						}
					case pmetric.MetricTypeHistogram:
						om.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { return next() })
						if n > 0 {
							attrs = om.Histogram().DataPoints().At(0).Attributes()
						}
					case pmetric.MetricTypeExponentialHistogram:
						om.ExponentialHistogram().DataPoints().RemoveIf(func(pmetric.ExponentialHistogramDataPoint) bool { return next() })
						if n > 0 {
							attrs = om.ExponentialHistogram().DataPoints().At(0).Attributes()
						}
					case pmetric.MetricTypeSummary:
						om.Summary().DataPoints().RemoveIf(func(pmetric.SummaryDataPoint) bool { return next() })
						if n > 0 {
							attrs = om.Summary().DataPoints().At(0).Attributes()
						}
					}
					b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(one)
					require.NoError(t, err)
					points[string(b)]++
					s := fmt.Sprint(rm.Resource().Attributes().AsRaw(), m.Name())
					if n > 0 {
						s += fmt.Sprint(attrs.AsRaw())
					}
					series[string(b)] = s
				}
			}
		}
	}
	return points, series
}

func metricPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// TestSplitMetrics: split over 3 parts, every data point lands in exactly one part, with its
// resource, scope and metric as they were (a metric split over parts keeps its name,
// description, unit, metadata, temporality and monotonicity in each); all points of a series —
// here each series also comes in a second resource with the same attributes in another order —
// are in one part.
func TestSplitMetrics(t *testing.T) {
	md := testMetrics(3, 2, 6)
	// The same resources again, attributes in reverse order: the same series.
	rev := pmetric.NewMetrics()
	md.ResourceMetrics().CopyTo(rev.ResourceMetrics())
	for _, rm := range rev.ResourceMetrics().All() {
		raw := rm.Resource().Attributes()
		keys := []string{}
		for k := range raw.All() {
			keys = append(keys, k)
		}
		slices.Reverse(keys)
		m := pcommon.NewMap()
		for _, k := range keys {
			v, _ := raw.Get(k)
			v.CopyTo(m.PutEmpty(k))
		}
		m.CopyTo(rm.Resource().Attributes())
		rm.MoveTo(md.ResourceMetrics().AppendEmpty())
	}
	req := marshal(t, md)
	want, wantSeries := flatPoints(t, md)
	var sp Splitter
	parts, items, err := sp.Split(Metrics, req, 3, func(k uint64) int { return int(k % 3) })
	require.NoError(t, err)
	got := map[string]int{}
	seriesPart := map[string]int{}
	total, used := 0, 0
	for i, p := range parts {
		n, err := Check(Metrics, p)
		require.NoError(t, err)
		require.Equal(t, n, items[i])
		total += n
		if n > 0 {
			used++
		}
		pm, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(p)
		require.NoError(t, err)
		pts, _ := flatPoints(t, pm)
		for s, c := range pts {
			got[s] += c
			series := wantSeries[s]
			if prev, ok := seriesPart[series]; ok {
				require.Equal(t, prev, i, "all points of series %s in one part", series)
			}
			seriesPart[series] = i
		}
	}
	require.Equal(t, md.DataPointCount(), total)
	require.Equal(t, want, got, "each point once, with its resource, scope and metric")
	require.Equal(t, 3, used, "the series spread over the 3 parts")
}

func TestSplitRefusesLogsAndBadInput(t *testing.T) {
	var sp Splitter
	_, _, err := sp.Split(Logs, marshal(t, testLogs(1, 1, 1)), 2, func(uint64) int { return 0 })
	require.ErrorContains(t, err, "only traces and metrics")
	_, _, err = sp.Split(Traces, []byte{0x0a, 0x05, 0x12}, 2, func(uint64) int { return 0 })
	require.ErrorIs(t, err, errTruncated)
}

// FuzzSplit: Split never panics; on a request Check accepts, the parts are requests Check
// accepts whose counts add up to the request's.
func FuzzSplit(f *testing.F) {
	for _, tr := range testRequests(f) {
		if tr.signal != Logs && len(tr.req) <= 8<<10 {
			f.Add(int(tr.signal), tr.req)
		}
	}
	var sp Splitter
	f.Fuzz(func(t *testing.T, s int, req []byte) {
		sig := Traces
		if s%2 == 0 {
			sig = Metrics
		}
		parts, items, err := sp.Split(sig, req, 3, func(k uint64) int { return int(k % 3) })
		want, cerr := Check(sig, req)
		if cerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("Check accepts, Split refuses: %v", err)
		}
		total := 0
		for i, p := range parts {
			n, err := Check(sig, p)
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if n != items[i] {
				t.Fatalf("part %d: %d items, counted %d", i, n, items[i])
			}
			total += n
		}
		if total != want {
			t.Fatalf("parts hold %d items, the request %d", total, want)
		}
	})
}

// BenchmarkSplit is the cost of cutting a request of 512 spans (64 traces, 8 spans each, spread
// over the request) into 3 parts by trace ID, on the wire.
func BenchmarkSplit(b *testing.B) {
	td := ptrace.NewTraces()
	for r := range 4 {
		rs := td.ResourceSpans().AppendEmpty()
		fillResource(rs.Resource(), r)
		ss := rs.ScopeSpans().AppendEmpty()
		fillScope(ss.Scope(), 0)
		for i := range 128 {
			k := r*128 + i
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(traceID(k % 64))
			sp.SetSpanID(spanID(k))
			sp.SetName("GET /api/v1/orders/{id}")
			fillAttributes(sp.Attributes(), k)
		}
	}
	req := marshal(b, td)
	var sp Splitter
	owner := func(k uint64) int { return int(k % 3) }
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		if _, _, err := sp.Split(Traces, req, 3, owner); err != nil {
			b.Fatal(err)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(512*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(512*float64(b.N)/cpu.Seconds(), "spans/cpu-s") // per core, whatever the machine's load
}
