package archivequery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/grafana/dskit/user"
	"github.com/grafana/loki/v3/pkg/iter"
	"github.com/grafana/loki/v3/pkg/logproto"
	"github.com/grafana/loki/v3/pkg/logql"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/grafana/loki/v3/pkg/logqlmodel"
	"github.com/grafana/loki/v3/pkg/util/validation"
	promql_parser "github.com/prometheus/prometheus/promql/parser"
)

// Defaults of the limits of a metric query.
const (
	// DefaultMaxSeries is the default bound on the series of a metric query's answer, as Loki's
	// max_query_series.
	DefaultMaxSeries = 500
	// DefaultMaxPoints is the default bound on the steps of a range metric query, as Prometheus's
	// and Loki's 11,000 points per series.
	DefaultMaxPoints = 11000
)

// MetricQuery is a LogQL metric query: evaluated at every Step from Start to End (a range query,
// answered with a matrix; Start is rounded down and End up to multiples of Step, as Loki does),
// or at End alone when Step is zero and Start equals End (an instant query, answered with a
// vector).
type MetricQuery struct {
	Expr       string // e.g. sum by (user) (count_over_time({resource="secrets", verb="get"}[1d]))
	Start, End time.Time
	Step       time.Duration
	// MaxSeries bounds the series of the answer (0: DefaultMaxSeries); MaxPoints the steps of a
	// range query (0: DefaultMaxPoints). A query over either is refused with a LimitError.
	MaxSeries, MaxPoints int
	// MaxSeriesSetting and MaxPointsSetting name, in a LimitError, the settings that change the
	// limits (e.g. "archivequery max_query_series", "--max-series").
	MaxSeriesSetting, MaxPointsSetting string
}

// Instant reports whether q is an instant query.
func (q MetricQuery) Instant() bool { return q.Step == 0 && q.Start.Equal(q.End) }

// LimitError is the error of a metric query that exceeds a limit: the limit, and the setting
// that changes it.
type LimitError struct {
	What    string // "series", "points per series"
	Limit   int
	Setting string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the query exceeds the maximum of %d %s (%s): narrow the selector or the grouping, shorten the time range or increase the step",
		e.Limit, e.What, e.Setting)
}

// errNotAMetricQuery is wrapped by the ParseError of an expression that is not a metric query.
var errNotAMetricQuery = errors.New("not a metric query")

// IsMetric reports whether expr parses as a LogQL metric query (a sample expression); a log
// query or an expression that does not parse is not one.
func IsMetric(expr string) bool {
	e, err := syntax.ParseExpr(expr)
	if err != nil {
		return false
	}
	_, ok := e.(syntax.SampleExpr)
	return ok
}

// ParseMetric checks a LogQL metric query: range aggregations (count_over_time, rate,
// bytes_over_time, sum_over_time ... with | unwrap, quantile_over_time), vector aggregations,
// binary operations, literals. Everything else is a ParseError: syntax errors, log queries, and
// pipelines or extractions that cannot be built.
func ParseMetric(expr string) (syntax.SampleExpr, error) {
	e, err := syntax.ParseExpr(expr)
	if err != nil {
		return nil, ParseError{err}
	}
	se, ok := e.(syntax.SampleExpr)
	if !ok {
		return nil, ParseError{fmt.Errorf("%w: %q is a log query; a metric query aggregates one, e.g. sum by (user) (count_over_time({resource=\"secrets\"}[1d]))",
			errNotAMetricQuery, expr)}
	}
	if _, ok := e.(syntax.VariantsExpr); ok {
		return nil, ParseError{fmt.Errorf("%w: multi-variant queries (variants(...) of ...) are not supported", errNotAMetricQuery)}
	}
	var bad error
	se.Walk(func(x syntax.Expr) bool {
		r, ok := x.(*syntax.RangeAggregationExpr)
		if !ok || bad != nil {
			return bad == nil
		}
		if _, err := r.Extractors(); err != nil {
			bad = fmt.Errorf("cannot build the sample extraction of %s: %w", r.String(), err)
			return false
		}
		if _, err := newPrefilter(r.Left.Left); err != nil {
			bad = err
			return false
		}
		return true
	})
	if bad != nil {
		return nil, ParseError{bad}
	}
	return se, nil
}

// RunMetric evaluates a metric query with Loki's own LogQL engine over the archive's events, so
// that the answer is Loki's: a promql.Matrix for a range query, a promql.Vector for an instant
// query (a promql.Scalar for a literal). Samples are extracted object by object and merged in
// time order as the engine consumes them: memory holds the objects that overlap in time, not
// every event. Stats.Problems lists what is wrong with the archive where the query read; the
// answer then holds the samples of the intact objects only.
func (e *Engine) RunMetric(ctx context.Context, q MetricQuery) (promql_parser.Value, Stats, error) {
	if _, err := ParseMetric(q.Expr); err != nil {
		return nil, Stats{}, err
	}
	if q.End.Before(q.Start) {
		return nil, Stats{}, ParseError{fmt.Errorf("the end %s is before the start %s", q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))}
	}
	if q.Step < 0 || (q.Step == 0 && !q.Instant()) {
		return nil, Stats{}, ParseError{fmt.Errorf("the step %s must be positive for a range query", q.Step)}
	}
	maxPoints := cmp(q.MaxPoints, DefaultMaxPoints)
	if q.Step > 0 && int64(q.End.Sub(q.Start)/q.Step) >= int64(maxPoints) {
		return nil, Stats{}, &LimitError{What: "points per series", Limit: maxPoints, Setting: orDefault(q.MaxPointsSetting, "max_points")}
	}
	if q.Step > 0 {
		q.Start, q.End = alignToStep(q.Start, q.End, q.Step)
	}
	params, err := logql.NewLiteralParams(q.Expr, q.Start, q.End, q.Step, 0, logproto.BACKWARD, 0, nil, nil)
	if err != nil {
		return nil, Stats{}, ParseError{err}
	}
	sq := &sampleQuerier{e: e}
	timeout := 24 * time.Hour
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	maxSeries := cmp(q.MaxSeries, DefaultMaxSeries)
	eng := logql.NewEngine(logql.EngineOpts{}, sq, engineLimits{maxSeries: maxSeries, timeout: timeout}, nil)
	res, err := eng.Query(params).Exec(user.InjectOrgID(ctx, "vigil"))
	st := sq.stats()
	if err != nil {
		var le *logqlmodel.LimitError
		if errors.As(err, &le) {
			return nil, st, &LimitError{What: "series", Limit: maxSeries, Setting: orDefault(q.MaxSeriesSetting, "max_series")}
		}
		if errors.Is(err, logqlmodel.ErrParse) || errors.Is(err, logqlmodel.ErrPipeline) {
			return nil, st, ParseError{err}
		}
		if ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		return nil, st, fmt.Errorf("cannot evaluate the metric query: %w", err)
	}
	return res.Data, st, nil
}

// alignToStep rounds start down and end up to multiples of step (since the Unix epoch), as Loki's
// query frontend does with every metric range query it splits by time (its default), so that the
// same query gives the same points here and in Loki.
func alignToStep(start, end time.Time, step time.Duration) (time.Time, time.Time) {
	s, e, n := start.UnixNano(), end.UnixNano(), step.Nanoseconds()
	s -= ((s % n) + n) % n
	if mod := ((e % n) + n) % n; mod != 0 {
		e += n - mod
	}
	return time.Unix(0, s).UTC(), time.Unix(0, e).UTC()
}

func cmp(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// engineLimits are the limits Loki's engine asks for.
type engineLimits struct {
	maxSeries int
	timeout   time.Duration
}

func (l engineLimits) MaxQuerySeries(context.Context, string) int                        { return l.maxSeries }
func (l engineLimits) MaxQueryRange(context.Context, string) time.Duration               { return 0 }
func (l engineLimits) QueryTimeout(context.Context, string) time.Duration                { return l.timeout }
func (l engineLimits) BlockedQueries(context.Context, string) []*validation.BlockedQuery { return nil }
func (l engineLimits) EnableMultiVariantQueries(string) bool                             { return false }
func (l engineLimits) MaxScanTaskParallelism(string) int                                 { return 1 }
func (l engineLimits) DebugEngineTasks(string) bool                                      { return false }
func (l engineLimits) DebugEngineStreams(string) bool                                    { return false }

// sampleQuerier is the Querier that Loki's engine reads samples from: vigil's scan of archive
// objects.
type sampleQuerier struct {
	e *Engine
	// mu guards its and pl: Loki's engine selects the two sides of a binary operation at once.
	mu  sync.Mutex
	its []*sampleIterator
	pl  Stats // planning stats of every selection
}

func (q *sampleQuerier) SelectLogs(context.Context, logql.SelectLogParams) (iter.EntryIterator, error) {
	return nil, errors.New("log selection within a metric query is not supported by vigil's archive")
}

func (q *sampleQuerier) SelectSamples(ctx context.Context, p logql.SelectSampleParams) (iter.SampleIterator, error) {
	expr, err := p.Expr()
	if err != nil {
		return nil, err
	}
	sel, err := expr.Selector()
	if err != nil {
		return nil, err
	}
	if _, err := expr.Extractors(); err != nil {
		return nil, ParseError{err}
	}
	rq := Query{From: p.Start, To: p.End}
	var ps Stats
	cands, err := q.e.plan(ctx, sel.Matchers(), rq, &ps)
	if err != nil {
		return nil, err
	}
	cands = q.e.prune(ctx, cands, sel.Matchers(), &ps)
	it := newSampleIterator(ctx, q.e, expr, sel, cands, rq)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pl.Streams = max(q.pl.Streams, ps.Streams)
	q.pl.ObjectsSkipped += ps.ObjectsSkipped
	q.pl.Problems = append(q.pl.Problems, ps.Problems...)
	q.its = append(q.its, it)
	return it, nil
}

// stats adds up the work of every selection; problems found by several are counted once.
func (q *sampleQuerier) stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.pl
	for _, it := range q.its {
		st.Objects += it.st.Objects
		st.Bytes += it.st.Bytes
		st.RawBytes += it.st.RawBytes
		st.Events += it.st.Events
		st.ObjectsSkipped += it.skipped()
		st.Problems = append(st.Problems, it.st.Problems...)
	}
	seen := map[string]bool{}
	problems := st.Problems[:0]
	for _, p := range st.Problems {
		k := p.String()
		if !seen[k] {
			seen[k] = true
			problems = append(problems, p)
		}
	}
	st.Problems = problems
	sortProblems(st.Problems)
	return st
}
