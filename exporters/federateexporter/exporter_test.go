package federateexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// newTestExporter returns an exporter on cfg (defaults when nil) whose clock is *now.
func newTestExporter(t *testing.T, cfg *Config, now *time.Time) *federateExporter {
	t.Helper()
	if cfg == nil {
		cfg = createDefaultConfig().(*Config)
	}
	e, err := newExporter(exportertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	e.now = func() time.Time { return *now }
	return e
}

// podMetrics is one pod's metrics as an agent sends them: a gauge, a monotonic sum and a
// histogram, on a resource with the pod's identity.
func podMetrics(cluster, pod string, at time.Time, value float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("k8s.cluster.name", cluster)
	res.PutStr("k8s.namespace.name", "shop")
	res.PutStr("k8s.pod.name", pod)
	res.PutStr("service.name", "checkout")
	res.PutStr("service.instance.id", pod)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := pcommon.NewTimestampFromTime(at)

	g := ms.AppendEmpty()
	g.SetName("queue.depth")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(value)
	dp.Attributes().PutStr("queue", "orders")

	s := ms.AppendEmpty()
	s.SetName("http.requests")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdp := sum.DataPoints().AppendEmpty()
	sdp.SetTimestamp(ts)
	sdp.SetIntValue(int64(value) * 10)

	h := ms.AppendEmpty()
	h.SetName("latency")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts)
	hdp.SetCount(3)
	hdp.SetSum(0.6)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 0.5})
	hdp.BucketCounts().FromRaw([]uint64{1, 1, 1})
	return md
}

// scrape asks GET /federate with the match[] selectors and parses the answer.
func scrape(t *testing.T, e *federateExporter, match ...string) map[string]*dto.MetricFamily {
	t.Helper()
	q := url.Values{"match[]": match}
	rec := httptest.NewRecorder()
	e.serve(rec, httptest.NewRequest(http.MethodGet, Path+"?"+q.Encode(), http.NoBody))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	require.NoError(t, err, rec.Body.String())
	return fams
}

// series lists a family's series as "label=value,..." (sorted), with their values.
func series(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		out[strings.Join(ls, ",")] = m.GetUntyped().GetValue()
	}
	return out
}

func TestLatestValueOfEverySeriesWithItsIdentity(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	e := newTestExporter(t, nil, &now)
	ctx := context.Background()
	require.NoError(t, e.consume(ctx, podMetrics("prod-eu-1", "checkout-1", now.Add(-2*time.Second), 4)))
	require.NoError(t, e.consume(ctx, podMetrics("prod-eu-1", "checkout-1", now.Add(-time.Second), 7)))
	// An older sample arriving late does not replace the newer one.
	require.NoError(t, e.consume(ctx, podMetrics("prod-eu-1", "checkout-1", now.Add(-3*time.Second), 1)))
	require.NoError(t, e.consume(ctx, podMetrics("prod-us-1", "checkout-9", now, 2)))

	fams := scrape(t, e)
	depth := fams["queue_depth"]
	require.NotNil(t, depth, "families: %v", keys(fams))
	require.Equal(t, dto.MetricType_UNTYPED, depth.GetType())
	require.Equal(t, map[string]float64{
		"cluster=prod-eu-1,instance=checkout-1,job=checkout,namespace=shop,pod=checkout-1,queue=orders": 7,
		"cluster=prod-us-1,instance=checkout-9,job=checkout,namespace=shop,pod=checkout-9,queue=orders": 2,
	}, series(depth))
	for _, m := range depth.Metric {
		require.NotZero(t, m.GetTimestampMs(), "federated samples carry their own timestamps")
	}
	require.Equal(t, now.Add(-time.Second).UnixMilli(), latestTimestamp(depth, "prod-eu-1"))
	require.Len(t, series(fams["http_requests_total"]), 2, "a monotonic sum is a counter named _total")
	require.Equal(t, 70.0, series(fams["http_requests_total"])["cluster=prod-eu-1,instance=checkout-1,job=checkout,namespace=shop,pod=checkout-1"])
	require.Len(t, series(fams["latency_seconds_bucket"]), 6, "3 buckets (0.1, 0.5, +Inf) per pod")
	require.Equal(t, 3.0, series(fams["latency_seconds_count"])["cluster=prod-us-1,instance=checkout-9,job=checkout,namespace=shop,pod=checkout-9"])
	require.Contains(t, fams, "latency_seconds_sum")
}

func TestMatchNarrowsTheConfiguredSelectors(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cfg := createDefaultConfig().(*Config)
	cfg.Match = []string{`{__name__=~"queue_depth|http_requests_total"}`}
	e := newTestExporter(t, cfg, &now)
	e.selectors, _ = cfg.selectors()
	require.NoError(t, e.consume(context.Background(), podMetrics("prod-eu-1", "a", now, 1)))
	require.NoError(t, e.consume(context.Background(), podMetrics("prod-us-1", "b", now, 1)))

	require.ElementsMatch(t, []string{"queue_depth", "http_requests_total"}, keys(scrape(t, e)), "only the configured selectors")
	fams := scrape(t, e, `{cluster="prod-us-1"}`, `latency_seconds_count`)
	require.ElementsMatch(t, []string{"queue_depth", "http_requests_total"}, keys(fams), "match[] cannot widen the configured selectors")
	for _, f := range fams {
		for s := range series(f) {
			require.Contains(t, s, "cluster=prod-us-1")
		}
	}

	rec := httptest.NewRecorder()
	e.serve(rec, httptest.NewRequest(http.MethodGet, Path+"?match[]="+url.QueryEscape("sum(up)"), http.NoBody))
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, rec.Body.String(), `match[]: "sum(up)" is not a series selector`)
}

func TestSeriesExpireAndAreBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ctx := context.Background()
	one := newTestExporter(t, nil, &now)
	require.NoError(t, one.consume(ctx, podMetrics("c", "a", now, 1)))
	perPod := one.store.n // queue_depth, http_requests_total, 3 buckets, sum, count

	cfg := createDefaultConfig().(*Config)
	cfg.MaxSeries = perPod + 1
	e := newTestExporter(t, cfg, &now)
	require.NoError(t, e.consume(ctx, podMetrics("c", "a", now, 1)))
	require.NoError(t, e.consume(ctx, podMetrics("c", "b", now, 1)), "a full store refuses new series, never the batch")
	require.Equal(t, perPod+1, e.store.n)
	require.Equal(t, perPod+1, countSeries(scrape(t, e)))

	// Pod b is gone: after expire_after without an update its series are no longer served, and
	// expire frees their places for new series.
	now = now.Add(3 * time.Minute)
	require.NoError(t, e.consume(ctx, podMetrics("c", "a", now, 2)))
	now = now.Add(3 * time.Minute)
	fams := scrape(t, e)
	require.Equal(t, perPod, countSeries(fams))
	require.Equal(t, map[string]float64{"cluster=c,instance=a,job=checkout,namespace=shop,pod=a,queue=orders": 2}, series(fams["queue_depth"]))
	require.Equal(t, perPod, e.store.expire(now.Add(-cfg.ExpireAfter).UnixNano()))
	require.NoError(t, e.consume(ctx, podMetrics("c", "d", now, 1)))
	require.Equal(t, perPod+1, e.store.n, "one place was free")
}

func countSeries(fams map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

func TestNativeHistogramsAreCountedNotServed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	e := newTestExporter(t, nil, &now)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("k8s.cluster.name", "c")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("rtt")
	eh := m.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := eh.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	dp.SetCount(2)
	dp.SetSum(3)
	dp.SetScale(0)
	dp.Positive().BucketCounts().FromRaw([]uint64{1, 1})
	app := &appender{store: e.store, now: now.UnixNano()}
	require.NoError(t, e.tr.Translate(context.Background(), md, app))
	require.Equal(t, 1, app.native)
	require.Empty(t, scrape(t, e))
	require.Equal(t, "c", md.ResourceMetrics().At(0).Resource().Attributes().AsRaw()["k8s.cluster.name"], "the resource is put back")
}

func keys(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for k := range fams {
		out = append(out, k)
	}
	return out
}

func latestTimestamp(f *dto.MetricFamily, cluster string) int64 {
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == "cluster" && l.GetValue() == cluster {
				return m.GetTimestampMs()
			}
		}
	}
	return 0
}
