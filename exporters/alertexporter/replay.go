package alertexporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

// Replay runs the streaming alert core over samples that the caller appends in time order, and
// evaluates its rule groups at the times the caller chooses instead of as metrics arrive and the
// clock ticks: `vigil rules test` runs Prometheus rule unit tests with it. It loads the rule files
// as the exporter does (the same checks: a group that the core cannot evaluate is skipped and
// reported by Skipped), keeps samples in the same series store (only the series the rules select,
// only their windows: the store is trimmed to each evaluation time) and evaluates the groups with
// the same engine and rules package. Nothing is notified. A Replay is not safe for concurrent use.
type Replay struct {
	e     *alertExporter
	gen   *generation
	order []int // indexes of gen.groups, in evaluation order
	app   *series.Appender
}

// ReplaySettings configure a Replay.
type ReplaySettings struct {
	// RuleFiles are rule files or globs, as the exporter's rule_files (builtin: packs too).
	RuleFiles []string
	// EvaluationInterval is the interval of groups that set none, and the step of subqueries
	// without one (default 1m).
	EvaluationInterval time.Duration
	// ExternalLabels and ExternalURL are the exporter's ($externalLabels, $externalURL).
	ExternalLabels map[string]string
	ExternalURL    string
	// Output, if set, receives a copy of every sample the rules write: recording rules, ALERTS
	// and ALERTS_FOR_STATE, whether or not a rule reads them back.
	Output storage.Appendable
}

// NewReplay loads the rule files. Problems in them do not fail it (the groups concerned are
// skipped, as in a running exporter): see Skipped.
func NewReplay(s ReplaySettings) (*Replay, error) {
	cfg := createDefaultConfig()
	cfg.RuleFiles, cfg.ExternalLabels, cfg.ExternalURL = s.RuleFiles, s.ExternalLabels, s.ExternalURL
	if s.EvaluationInterval > 0 {
		cfg.EvaluationInterval = s.EvaluationInterval
	}
	e := &alertExporter{cfg: cfg, logger: zap.NewNop(), loader: &preparedLoader{}}
	slogger := newSlogLogger(e.logger)
	e.engine = newEngine(cfg, slogger)
	var app storage.Appendable = ruleAppendable{e}
	if s.Output != nil {
		app = teeAppendable{app, s.Output}
	}
	none := storage.QueryableFunc(func(int64, int64) (storage.Querier, error) { return storage.NoopQuerier(), nil })
	e.mgr = rules.NewManager(e.managerOptions(context.Background(), e.engine, slogger,
		func(context.Context, string, ...*rules.Alert) {}, app, none))
	files, patternErr := rulefiles.Expand(cfg.RuleFiles)
	gen, needs := e.load(files, patternErr, false, nil)
	store, err := series.NewStore(series.Options{Needs: needs, MaxSeries: cfg.MaxSeries})
	if err != nil {
		_ = e.engine.Close()
		return nil, err
	}
	e.store = store
	e.gen.Store(gen)
	r := &Replay{e: e, gen: gen, app: store.NewAppender()}
	for i := range gen.groups {
		r.order = append(r.order, i)
	}
	return r, nil
}

// Skipped returns the problems of the rule files: every group, file or pattern that the core
// does not evaluate, each problem naming its file and, where it has one, its line, group and rule.
func (r *Replay) Skipped() []error {
	var out []error
	for _, s := range r.gen.skipped {
		out = append(out, s.errs...)
	}
	return out
}

// Order sets the evaluation order of the groups as promtool's group_eval_order does: groups are
// sorted by their position in names, and the groups not named come first, in file order.
func (r *Replay) Order(names []string) {
	pos := func(i int) int {
		if p := slices.Index(names, r.gen.groups[i].Name()); p >= 0 {
			return p
		}
		return 0
	}
	slices.SortStableFunc(r.order, func(a, b int) int { return pos(a) - pos(b) })
}

// Groups returns the loaded groups in evaluation order, to read their rules' alerts.
func (r *Replay) Groups() []*rules.Group {
	out := make([]*rules.Group, 0, len(r.order))
	for _, i := range r.order {
		out = append(out, r.gen.groups[i])
	}
	return out
}

// Wants reports whether a rule selects the series, so that the core keeps its samples.
func (r *Replay) Wants(l labels.Labels) bool { return r.e.store.Wants(l) }

// Append adds a float sample (value.StaleNaN marks the series stale) as arriving metrics do. A
// sample of a series that no rule selects is dropped. Errors: out of order, duplicate, series limit.
func (r *Replay) Append(l labels.Labels, t int64, f float64) error {
	_, err := r.app.AppendSample(l, t, f)
	_ = r.app.Rollback() // nothing to wake: Eval evaluates every group
	return err
}

// Eval trims the store to ts, as the exporter's collection does, and evaluates every group at ts,
// in order. It returns the errors of the rules' evaluations, each naming its group and rule.
func (r *Replay) Eval(ctx context.Context, ts time.Time) []error {
	r.e.store.GC(ts.UnixMilli())
	var errs []error
	for _, i := range r.order {
		g := r.gen.groups[i]
		g.Eval(withGroup(ctx, i), ts)
		for _, rule := range g.Rules() {
			if err := rule.LastError(); err != nil {
				errs = append(errs, fmt.Errorf("rule %q of group %q in %s: %w", rule.Name(), g.Name(), g.File(), err))
			}
		}
	}
	return errs
}

// Close releases the engine.
func (r *Replay) Close() error { return r.e.engine.Close() }

// teeAppendable writes what the rules write to the store and to out as well.
type teeAppendable struct {
	store storage.Appendable
	out   storage.Appendable
}

func (t teeAppendable) Appender(ctx context.Context) storage.Appender {
	return &teeAppender{Appender: t.store.Appender(ctx), out: t.out.Appender(ctx)}
}

type teeAppender struct {
	storage.Appender // the store's: its answers are the ones the rules see
	out              storage.Appender
	outErr           error
}

func (a *teeAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, f float64) (storage.SeriesRef, error) {
	if _, err := a.out.Append(0, l, t, f); err != nil && a.outErr == nil {
		a.outErr = fmt.Errorf("cannot copy rule output %s: %w", l, err)
	}
	return a.Appender.Append(ref, l, t, f)
}

func (a *teeAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if _, err := a.out.AppendHistogram(0, l, t, h, fh); err != nil && a.outErr == nil {
		a.outErr = fmt.Errorf("cannot copy rule output %s: %w", l, err)
	}
	return a.Appender.AppendHistogram(ref, l, t, h, fh)
}

func (a *teeAppender) Commit() error {
	return errors.Join(a.Appender.Commit(), a.out.Commit(), a.outErr)
}

func (a *teeAppender) Rollback() error {
	return errors.Join(a.Appender.Rollback(), a.out.Rollback())
}
