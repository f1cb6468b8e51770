package series

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// storeFor returns a store that keeps what the expressions need (owner = index of the expression).
func storeFor(t testing.TB, maxSeries int, onCommit func([]int), exprs ...string) *Store {
	t.Helper()
	var needs []Need
	for i, s := range exprs {
		e, err := rulefiles.Parser.ParseExpr(s)
		require.NoError(t, err)
		n, err := NeedsOf(e, 5*time.Minute, 0, i)
		require.NoError(t, err)
		needs = append(needs, n...)
	}
	s, err := NewStore(Options{Needs: needs, MaxSeries: maxSeries, OnCommit: onCommit})
	require.NoError(t, err)
	return s
}

func mustAppend(t testing.TB, a *Appender, l labels.Labels, ts int64, f float64) {
	t.Helper()
	_, err := a.Append(0, l, ts, f)
	require.NoError(t, err)
}

func instant(t *testing.T, q storage.Queryable, expr string, ts int64) promql.Vector {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: rulefiles.Parser})
	qry, err := eng.NewInstantQuery(context.Background(), q, nil, expr, time.UnixMilli(ts))
	require.NoError(t, err)
	res := qry.Exec(context.Background())
	require.NoError(t, res.Err)
	v, err := res.Vector()
	require.NoError(t, err)
	return v
}

const minute = int64(60_000)

func TestStoreKeepsOnlyNeededSeriesAndWindow(t *testing.T) {
	s := storeFor(t, 100, nil, `max_over_time(lag_seconds{role="replica"}[10m]) > 30`)
	a := s.NewAppender()
	replica := labels.FromStrings("__name__", "lag_seconds", "role", "replica", "db", "a")
	primary := labels.FromStrings("__name__", "lag_seconds", "role", "primary", "db", "a")
	other := labels.FromStrings("__name__", "cpu_seconds_total", "cpu", "0")
	for i := range int64(60) { // one sample a minute for an hour
		mustAppend(t, a, replica, i*minute, float64(i))
		mustAppend(t, a, primary, i*minute, float64(i))
		mustAppend(t, a, other, i*minute, float64(i))
	}
	st := s.Stats()
	require.Equal(t, 1, st.Series)
	require.Equal(t, int64(120), st.NotNeeded)
	require.Equal(t, int64(60), st.Appended)
	// A 10m window before the newest sample at 59m: samples 49m..59m are visible, even to a
	// query over the whole hour; the store holds at most one chunk more.
	require.Equal(t, 11.0, instant(t, s, `count_over_time(lag_seconds{role="replica"}[1h])`, 59*minute)[0].F)
	require.GreaterOrEqual(t, st.Samples, 11)
	require.LessOrEqual(t, st.Samples, 11+minChunkSamples)

	v := instant(t, s, `max_over_time(lag_seconds{role="replica"}[10m])`, 59*minute)
	require.Len(t, v, 1)
	require.Equal(t, 59.0, v[0].F)
	require.Equal(t, "a", v[0].Metric.Get("db"))
}

func TestStoreStalenessMarkers(t *testing.T) {
	s := storeFor(t, 100, nil, "up")
	a := s.NewAppender()
	up := labels.FromStrings("__name__", "up", "job", "pg")
	mustAppend(t, a, up, 0, 1)
	mustAppend(t, a, up, minute, 1)
	require.Len(t, instant(t, s, "up", minute+1000), 1)
	mustAppend(t, a, up, 2*minute, math.Float64frombits(value.StaleNaN))
	// Within the lookback delta, but after the staleness marker: gone, as in Prometheus.
	require.Empty(t, instant(t, s, "up", 2*minute+1000))
	require.Len(t, instant(t, s, "up", 2*minute-1000), 1)
	// A staleness marker of a series never seen creates nothing.
	mustAppend(t, a, labels.FromStrings("__name__", "up", "job", "new"), 0, math.Float64frombits(value.StaleNaN))
	require.Equal(t, 1, s.Stats().Series)
}

func TestStoreRejectsOutOfOrderAndDuplicates(t *testing.T) {
	s := storeFor(t, 100, nil, "x")
	a := s.NewAppender()
	l := labels.FromStrings("__name__", "x")
	mustAppend(t, a, l, 1000, 1)
	mustAppend(t, a, l, 1000, 1) // same value again: accepted, not stored twice
	_, err := a.Append(0, l, 999, 1)
	require.ErrorIs(t, err, storage.ErrOutOfOrderSample)
	require.EqualError(t, err, `cannot append sample of {__name__="x"} at 999: out of order sample (newest is at 1000)`)
	_, err = a.Append(0, l, 1000, 2)
	require.ErrorIs(t, err, storage.ErrDuplicateSampleForTimestamp)
	st := s.Stats()
	require.Equal(t, Stats{Series: 1, Samples: 1, Appended: 1, OutOfOrder: 1, Duplicate: 1}, st)
}

func TestStoreMaxSeries(t *testing.T) {
	s := storeFor(t, 2, nil, "x")
	a := s.NewAppender()
	mustAppend(t, a, labels.FromStrings("__name__", "x", "i", "1"), 0, 1)
	mustAppend(t, a, labels.FromStrings("__name__", "x", "i", "2"), 0, 1)
	_, err := a.Append(0, labels.FromStrings("__name__", "x", "i", "3"), 0, 1)
	require.True(t, errors.Is(err, ErrSeriesLimit))
	require.EqualError(t, err, `cannot add series {__name__="x", i="3"}: series limit reached: the store holds 2 series (setting max_series)`)
	// Existing series still accept samples.
	mustAppend(t, a, labels.FromStrings("__name__", "x", "i", "1"), 1000, 2)
	require.Equal(t, int64(1), s.Stats().SeriesLimit)

	_, err = NewStore(Options{MaxSeries: 0})
	require.EqualError(t, err, "cannot create series store: max_series 0 must be positive")
}

func TestStoreGCForgetsSeriesOutsideTheirWindow(t *testing.T) {
	s := storeFor(t, 100, nil, "rate(c[5m])", "g")
	a := s.NewAppender()
	c := labels.FromStrings("__name__", "c")
	g := labels.FromStrings("__name__", "g")
	mustAppend(t, a, c, 0, 1)
	mustAppend(t, a, g, 10*minute, 1)
	require.Equal(t, 0, s.GC(5*minute), "c's newest sample is still inside its 5m window")
	require.Equal(t, 1, s.GC(5*minute+1), "c is outside its window")
	require.Equal(t, 1, s.Stats().Series)
	require.Equal(t, 1, s.GC(15*minute+1))
	require.Equal(t, Stats{Appended: 2}, s.Stats())
	require.Empty(t, instant(t, s, "c", 5*minute))
	// The series can come back.
	mustAppend(t, a, c, 20*minute, 1)
	require.Len(t, instant(t, s, "c", 20*minute), 1)
}

func TestAppenderCommitReportsOwners(t *testing.T) {
	var got [][]int
	s := storeFor(t, 100, func(o []int) { got = append(got, append([]int(nil), o...)) }, "a", "b", "a + c")
	app := s.Appender(context.Background())
	for _, name := range []string{"c", "a", "zzz", "a"} {
		_, err := app.Append(0, labels.FromStrings("__name__", name), 1, 1)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	require.NoError(t, app.Commit()) // nothing touched: no report
	_, err := app.Append(0, labels.FromStrings("__name__", "b"), 1, 1)
	require.NoError(t, err)
	require.NoError(t, app.Rollback())
	require.NoError(t, app.Commit())
	require.Equal(t, [][]int{{2, 0}}, got)
}

func TestQuerierLabels(t *testing.T) {
	s := storeFor(t, 100, nil, `{job=~".+"}`)
	a := s.NewAppender()
	mustAppend(t, a, labels.FromStrings("__name__", "up", "job", "b"), 0, 1)
	mustAppend(t, a, labels.FromStrings("__name__", "up", "job", "a", "zone", "z1"), 0, 1)
	mustAppend(t, a, labels.FromStrings("__name__", "up"), 0, 1) // no job: not needed
	q, err := s.Querier(0, 10)
	require.NoError(t, err)
	vals, _, err := q.LabelValues(context.Background(), "job", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, vals)
	names, _, err := q.LabelNames(context.Background(), nil, labels.MustNewMatcher(labels.MatchEqual, "job", "a"))
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "job", "zone"}, names)
	require.NoError(t, q.Close())
	// Sorted selection over the whole store (no metric name matcher).
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "job", ".+"))
	var order []string
	for ss.Next() {
		order = append(order, ss.At().Labels().Get("job"))
	}
	require.Equal(t, []string{"a", "b"}, order)
}

func TestQuerierWholeTimeRange(t *testing.T) {
	s := storeFor(t, 10, nil, "x")
	mustAppend(t, s.NewAppender(), labels.FromStrings("__name__", "x"), 5, 1)
	for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {5, 5}, {0, 5}, {5, 10}} {
		q, err := s.Querier(r[0], r[1])
		require.NoError(t, err)
		ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"))
		require.True(t, ss.Next(), "range %v", r)
	}
	for _, r := range [][2]int64{{6, math.MaxInt64}, {math.MinInt64, 4}} {
		q, err := s.Querier(r[0], r[1])
		require.NoError(t, err)
		require.False(t, q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x")).Next(), "range %v", r)
	}
}

func TestSetNeedsReplansSeries(t *testing.T) {
	s := storeFor(t, 100, nil, "a", "max_over_time(b[10m])")
	app := s.NewAppender()
	for i := range int64(20) {
		mustAppend(t, app, labels.FromStrings("__name__", "a"), i*minute, 1)
		mustAppend(t, app, labels.FromStrings("__name__", "b"), i*minute, 2)
	}
	require.Equal(t, 2, s.Stats().Series)
	e, err := rulefiles.Parser.ParseExpr("max_over_time(b[2m]) + c")
	require.NoError(t, err)
	needs, err := NeedsOf(e, 5*time.Minute, 0, 3)
	require.NoError(t, err)
	require.Equal(t, 1, s.SetNeeds(needs), "a is no longer needed")
	require.Empty(t, instant(t, s, "a", 19*minute))
	require.Len(t, instant(t, s, "b", 19*minute), 1)
	// b keeps its samples, now with a 2m window and owner 3; c is accepted.
	app = s.NewAppender()
	mustAppend(t, app, labels.FromStrings("__name__", "b"), 20*minute, 2)
	mustAppend(t, app, labels.FromStrings("__name__", "c"), 20*minute, 2)
	mustAppend(t, app, labels.FromStrings("__name__", "a"), 20*minute, 2)
	require.Equal(t, []int{3}, app.Touched())
	require.Equal(t, 2, s.Stats().Series)
	require.Equal(t, 3.0, instant(t, s, "count_over_time(b[1h])", 20*minute)[0].F, "b: 18m..20m")
	require.Equal(t, 1.0, instant(t, s, "count_over_time(c[1h])", 20*minute)[0].F)
}

func TestGCOfManySeriesOfOneName(t *testing.T) {
	s := storeFor(t, 10_000, nil, "rate(c[5m])")
	a := s.NewAppender()
	for i := range 1000 {
		at := int64(0)
		if i%2 == 1 {
			at = 10 * minute // the odd ones stay
		}
		mustAppend(t, a, labels.FromStrings("__name__", "c", "i", strconv.Itoa(i)), at, 1)
	}
	require.Equal(t, 500, s.GC(10*minute))
	got := instant(t, s, "c", 10*minute)
	require.Len(t, got, 500)
	for _, smp := range got {
		i, err := strconv.Atoi(smp.Metric.Get("i"))
		require.NoError(t, err)
		require.Equal(t, 1, i%2, "only the series inside their window are left: %s", smp.Metric)
	}
	require.Equal(t, 500, s.GC(20*minute))
	require.Empty(t, s.byName, "a name without series is gone")
}
