package archivequery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// countByUser counts the events of the secrets resource per user in (from, to], as
// count_over_time's left-open window does.
func countByUser(events []audittest.Event, from, to time.Time, lost map[string]bool) map[string]float64 {
	out := map[string]float64{}
	for _, e := range events {
		if e.ObjectRef.Resource == "secrets" && e.StageTime.After(from) && !e.StageTime.After(to) && !lost[e.AuditID] {
			out[e.User.Username]++
		}
	}
	return out
}

// TestMetricQueryCountsWhatWasWritten: a range query's every step, and an instant query, count
// the events of their window (t-range, t] per group, across objects and streams.
func TestMetricQueryCountsWhatWasWritten(t *testing.T) {
	bkt, events, _ := newArchive(t, []string{"prod-eu", "prod-us", "staging"}, 400, 30) // 200 min per cluster
	eng := &Engine{Bucket: bkt, Workers: 2}
	ctx := context.Background()
	const q = `sum by (user) (count_over_time({resource="secrets"}[1h]))`
	start, end, step := audittest.T0, audittest.T0.Add(4*time.Hour), 20*time.Minute
	require.Zero(t, start.UnixNano()%step.Nanoseconds(), "an aligned start")

	// Start and end are aligned to the step, as Loki's frontend does: T0+7m..T0+3h53m is T0..T0+4h.
	v, st, err := eng.RunMetric(ctx, MetricQuery{Expr: q, Start: start.Add(7 * time.Minute), End: end.Add(-7 * time.Minute), Step: step})
	require.NoError(t, err)
	require.True(t, st.Intact())
	m, ok := v.(promql.Matrix)
	require.True(t, ok, "a range query answers a matrix, got %T", v)
	got := map[string]map[int64]float64{}
	for _, s := range m {
		require.Equal(t, 1, s.Metric.Len(), "grouped by user only: %s", s.Metric)
		got[s.Metric.Get("user")] = map[int64]float64{}
		for _, p := range s.Floats {
			got[s.Metric.Get("user")][p.T] = p.F
		}
	}
	wantAll := map[string]map[int64]float64{}
	for ts := start; !ts.After(end); ts = ts.Add(step) {
		for u, n := range countByUser(events, ts.Add(-time.Hour), ts, nil) {
			if wantAll[u] == nil {
				wantAll[u] = map[int64]float64{}
			}
			wantAll[u][ts.UnixMilli()] = n
		}
	}
	require.NotEmpty(t, wantAll)
	require.Equal(t, wantAll, got)
	require.Equal(t, int64(len(events)), st.Events, "every object read once")

	at := audittest.T0.Add(90 * time.Minute)
	v, _, err = eng.RunMetric(ctx, MetricQuery{Expr: q, Start: at, End: at})
	require.NoError(t, err)
	vec, ok := v.(promql.Vector)
	require.True(t, ok, "an instant query answers a vector, got %T", v)
	inst := map[string]float64{}
	for _, s := range vec {
		inst[s.Metric.Get("user")] = s.F
	}
	require.Equal(t, countByUser(events, at.Add(-time.Hour), at, nil), inst)
}

// TestMetricQueryReportsDamage: a metric query over a damaged archive counts the events of the
// intact objects and names the damage, as a log query does.
func TestMetricQueryReportsDamage(t *testing.T) {
	bkt, events, dir := newArchive(t, []string{"prod-eu", "prod-us"}, 200, 20)
	stream := archive.Stream{Tenant: "default", Cluster: "prod-us"}
	entries, err := archive.Manifest(context.Background(), bkt, stream)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, entries[3].Object)))
	lost := map[string]bool{}
	for _, e := range events[200+3*20 : 200+4*20] {
		lost[e.AuditID] = true
	}
	at := audittest.T0.Add(3 * time.Hour)
	v, st, err := (&Engine{Bucket: bkt}).RunMetric(context.Background(),
		MetricQuery{Expr: `sum by (user) (count_over_time({resource="secrets"}[4h]))`, Start: at, End: at})
	require.NoError(t, err, "damage never fails the query")
	require.False(t, st.Intact())
	require.Equal(t, archive.ProblemMissing, st.Problems[0].Kind)
	require.Equal(t, uint64(4), st.Problems[0].Seq)
	got := map[string]float64{}
	for _, s := range v.(promql.Vector) {
		got[s.Metric.Get("user")] = s.F
	}
	require.Equal(t, countByUser(events, at.Add(-4*time.Hour), at, lost), got)
}

func TestMetricQueryLimitsAndBadInput(t *testing.T) {
	bkt, _, _ := newArchive(t, []string{"a", "b"}, 100, 20)
	eng := &Engine{Bucket: bkt}
	ctx := context.Background()
	t0 := audittest.T0
	tests := []struct {
		name  string
		q     MetricQuery
		limit string // the LimitError's text, or
		parse string // the ParseError's text
	}{
		{"series over the limit", MetricQuery{Expr: `count_over_time({cluster=~".+"} | json [1h])`, Start: t0.Add(time.Hour),
			End: t0.Add(time.Hour), MaxSeries: 10, MaxSeriesSetting: "--max-series"},
			"the query exceeds the maximum of 10 series (--max-series)", ""},
		{"points over the limit", MetricQuery{Expr: `count_over_time({cluster="a"}[1h])`, Start: t0, End: t0.Add(24 * time.Hour),
			Step: time.Second, MaxPointsSetting: "archivequery max_points"},
			"the query exceeds the maximum of 11000 points per series (archivequery max_points)", ""},
		{"a log query", MetricQuery{Expr: `{cluster="a"}`, Start: t0, End: t0}, "", "is a log query"},
		{"a syntax error", MetricQuery{Expr: `count_over_time({cluster="a"}[1h]`, Start: t0, End: t0}, "", "parse error"},
		{"a bad regexp", MetricQuery{Expr: `count_over_time({cluster="a"} |~ "a{1001}" [1h])`, Start: t0, End: t0}, "", "cannot"},
		{"end before start", MetricQuery{Expr: `count_over_time({cluster="a"}[1h])`, Start: t0, End: t0.Add(-time.Hour), Step: time.Minute}, "", "before the start"},
		{"range without step", MetricQuery{Expr: `count_over_time({cluster="a"}[1h])`, Start: t0, End: t0.Add(time.Hour)}, "", "step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := eng.RunMetric(ctx, tc.q)
			require.Error(t, err)
			var le *LimitError
			var pe ParseError
			if tc.limit != "" {
				require.True(t, errors.As(err, &le), "%T: %v", err, err)
				require.Contains(t, err.Error(), tc.limit)
				return
			}
			require.True(t, errors.As(err, &pe), "%T: %v", err, err)
			require.Contains(t, err.Error(), tc.parse)
		})
	}
}

// TestSamplesAreMergedInTimeOrderObjectByObject: the samples reach Loki's engine in time order,
// every one of them, while the iterator holds only the objects overlapping in time (one per
// cluster here) and those read ahead (one per worker) — not the whole range.
func TestSamplesAreMergedInTimeOrderObjectByObject(t *testing.T) {
	clusters := []string{"a", "b", "c"}
	bkt, events, _ := newArchive(t, clusters, 600, 20) // 30 objects per cluster
	eng := &Engine{Bucket: bkt, Workers: 2}
	expr, err := ParseMetric(`count_over_time({cluster=~".+"}[1h])`)
	require.NoError(t, err)
	sel, err := expr.Selector()
	require.NoError(t, err)
	var st Stats
	cands, err := eng.plan(context.Background(), sel.Matchers(), Query{}, &st)
	require.NoError(t, err)
	require.Len(t, cands, 90)
	it := newSampleIterator(context.Background(), eng, expr, sel, cands, Query{})
	var n int
	var last int64
	for it.Next() {
		require.GreaterOrEqual(t, it.At().Timestamp, last, "time order")
		last = it.At().Timestamp
		n++
	}
	require.NoError(t, it.Err())
	require.Equal(t, len(events), n)
	require.LessOrEqual(t, it.peak, len(clusters)+eng.Workers, "objects held at once")
	require.Equal(t, 90, it.st.Objects)
}

// FuzzParseMetric: no input makes the parser or the engine panic.
func FuzzParseMetric(f *testing.F) {
	for _, s := range []string{`count_over_time({cluster="a"}[1h])`, `sum by (user) (rate({verb="get"} | json [5m]))`,
		`quantile_over_time(0.5, {a="b"} | json | unwrap x [1m]) by (y)`, `topk(2, sum(bytes_over_time({a="b"}[1m])))`,
		`1 + 1`, `vector(1) > 0`, `label_replace(rate({a="b"}[1m]), "x", "$1", "a", "(.*)")`, `absent_over_time({a="b"}[1m])`,
		`sum(count_over_time({a="b"}[1m] offset 5m)) / 0`, `{a="b"}`, `count_over_time({a="b"} | unwrap bytes(x) [1m])`} {
		f.Add(s)
	}
	bkt, _, _ := newArchive(f, []string{"a"}, 20, 10)
	eng := &Engine{Bucket: bkt}
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := ParseMetric(q); err != nil {
			return
		}
		at := audittest.T0.Add(time.Minute)
		_, _, _ = eng.RunMetric(context.Background(), MetricQuery{Expr: q, Start: at, End: at})
		_, _, _ = eng.RunMetric(context.Background(), MetricQuery{Expr: q, Start: audittest.T0, End: at, Step: 10 * time.Second})
	})
}
