package alertexporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	xstorage "go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

type alertExporter struct {
	cfg    *Config
	set    exporter.Settings
	logger *zap.Logger
	tel    *telemetry

	// Set by Start, read-only afterwards.
	store    *series.Store
	engine   *promql.Engine // evaluates the rules, and queries of the read API
	notifier *notifier.Manager
	mgr      *rules.Manager // loads groups (its options are the evaluation's)
	loader   *preparedLoader
	files    []string // the rule files loaded last

	gen      atomic.Pointer[generation] // the groups being evaluated; replaced by a reload
	reloadMu sync.Mutex                 // one reload at a time

	restore      bool          // restore alert state after each group's first evaluation
	restored     chan struct{} // closed once every group has restored its state
	restoredOnce sync.Once
	pending      atomic.Int64 // groups of the first generation that have not restored yet
	client       xstorage.Client

	api *httpapiextension.RunningServer

	takeover *takeover // nil: firing alerts at the Alertmanagers are not taken over

	mu       sync.Mutex // lifecycle
	started  bool
	stopped  bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lastWarn atomic.Int64 // unix ns of the last rejected-sample warning
}

func newExporter(set exporter.Settings, cfg *Config) (*alertExporter, error) {
	return &alertExporter{cfg: cfg, set: set, logger: set.Logger, loader: &preparedLoader{}}, nil
}

func (e *alertExporter) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// Start loads the rule files, builds the series store for what they need and starts one
// evaluation loop per group and the notifier. It returns quickly; if it fails, nothing is left
// running.
func (e *alertExporter) Start(startCtx context.Context, host component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return errors.New("cannot start the alert exporter: already started or shut down")
	}
	files, patternErr := rulefiles.Expand(e.cfg.RuleFiles) // problems skip what they concern
	slogger := newSlogLogger(e.logger)
	var saved storage.Queryable = storage.QueryableFunc(func(int64, int64) (storage.Querier, error) {
		return storage.NoopQuerier(), nil
	})
	if e.cfg.Storage != nil {
		client, err := storageClient(startCtx, host, *e.cfg.Storage, e.set.ID)
		if err != nil {
			return err
		}
		st, n, err := loadState(startCtx, client)
		if err != nil {
			_ = client.Close(startCtx)
			return err
		}
		e.client, e.restore, saved = client, true, st
		e.logger.Info("alert state loaded", zap.Int("alerts", n))
	}
	// The notifier's and the rule manager's own metrics, exported as vigil_alert_* (promtel.go).
	promReg := prometheus.NewRegistry()
	n, targets, err := newNotifier(e.cfg, slogger, promReg)
	if err != nil {
		e.closeClient()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fail := func(err error) error {
		cancel()
		e.closeClient()
		return err
	}
	engine := newEngine(e.cfg, slogger)
	e.takeover = newTakeover(e.cfg, e.logger)
	notify := rules.SendAlerts(n, e.cfg.ExternalURL)
	if ev := e.cfg.Evidence; ev.Enabled {
		var index *evidenceextension.Index
		if ev.Extension != nil {
			x, ok := evidenceextension.Find(host, *ev.Extension)
			if !ok {
				return fail(fmt.Errorf("cannot start the alert exporter: evidence.extension %q is not an evidence extension listed in service.extensions", ev.Extension))
			}
			index = x
		}
		notify = newEvidence(ev, index, func() *series.Store { return e.store }).notifyFunc(notify, e.groupName)
	}
	opts := e.managerOptions(ctx, engine, slogger, notify, ruleAppendable{e}, saved)
	opts.Registerer = promReg
	e.mgr = rules.NewManager(opts)
	gen, needs := e.load(files, patternErr, true, nil)
	store, err := series.NewStore(series.Options{Needs: needs, MaxSeries: e.cfg.MaxSeries})
	if err != nil {
		return fail(err)
	}
	tel, err := newTelemetry(e.set.TelemetrySettings, store, promReg, func() int {
		if g := e.gen.Load(); g != nil {
			return len(g.skipped)
		}
		return 0
	})
	if err != nil {
		return fail(err)
	}
	e.store, e.engine, e.notifier, e.tel, e.cancel, e.files = store, engine, n, tel, cancel, files
	e.gen.Store(gen)
	if err := e.startAPI(startCtx, host); err != nil {
		tel.close()
		return fail(err)
	}
	e.started = true
	e.runNotifier(targets)
	e.restored = make(chan struct{})
	e.pending.Store(int64(len(gen.groups)))
	if len(gen.groups) == 0 {
		e.markRestored()
	}
	if e.restore {
		e.wg.Go(func() { e.runStateSaver(ctx, e.client, e.restored) })
	}
	e.startGeneration(ctx, gen)
	if e.cfg.ReloadInterval > 0 {
		loaded := rulesDigest(e.files) // now, not when the goroutine runs: a change meanwhile is seen
		e.wg.Go(func() { e.runReloader(ctx, loaded) })
	}
	e.wg.Go(func() { e.runGC(ctx) })
	e.logger.Info("alert rules loaded", zap.Int("groups", len(gen.groups)), zap.Int("skipped", len(gen.skipped)),
		zap.Int("selectors", len(needs)), zap.Strings("files", files), zap.Strings("alertmanagers", e.cfg.Alertmanagers))
	return nil
}

// newEngine is the PromQL engine of the rules and of the read API. A subquery without a step
// (`x[5m:]`) steps by evaluation_interval, as in Prometheus (its global evaluation interval).
func newEngine(cfg *Config, logger *slog.Logger) *promql.Engine {
	step := cfg.EvaluationInterval.Milliseconds()
	return promql.NewEngine(promql.EngineOpts{
		Logger: logger, MaxSamples: 50_000_000, Timeout: 2 * time.Minute, LookbackDelta: cfg.LookbackDelta,
		EnableAtModifier: true, EnableNegativeOffset: true, Parser: rulefiles.Parser,
		NoStepSubqueryIntervalFn: func(int64) int64 { return step },
	})
}

// managerOptions are the options of the rules manager that loads the groups: queries go to
// engine over the series store, results to app, alerts to notify; saved is read only by
// Group.RestoreForState.
func (e *alertExporter) managerOptions(ctx context.Context, engine *promql.Engine, logger *slog.Logger,
	notify rules.NotifyFunc, app storage.Appendable, saved storage.Queryable,
) *rules.ManagerOptions {
	return &rules.ManagerOptions{
		NameValidationScheme: rulefiles.NameValidation,
		QueryFunc: func(ctx context.Context, q string, t time.Time) (promql.Vector, error) {
			return rules.EngineQueryFunc(engine, e.store)(ctx, q, t)
		},
		NotifyFunc:      notify,
		Context:         ctx,
		Appendable:      app,
		Queryable:       saved,
		Logger:          logger,
		ResendDelay:     e.cfg.ResendDelay,
		GroupLoader:     e.loader,
		OutageTolerance: e.cfg.OutageTolerance,
		ForGracePeriod:  e.cfg.ForGracePeriod,
		Parser:          rulefiles.Parser,
	}
}

// notifierReadyWait bounds how long Start waits for the notifier to take its Alertmanagers.
const notifierReadyWait = time.Second

// runNotifier starts the notifier with the Alertmanagers of targets and waits, at most
// notifierReadyWait, until it has taken them: an alert that fires right after start would
// otherwise be dropped for want of an Alertmanager, and go out only at its group's next
// evaluation.
func (e *alertExporter) runNotifier(targets map[string][]*targetgroup.Group) {
	ch := make(chan map[string][]*targetgroup.Group, 1)
	ch <- targets
	e.wg.Go(func() { e.notifier.Run(ch) })
	addrs := map[string]bool{}
	for _, tgs := range targets {
		for _, tg := range tgs {
			for _, t := range tg.Targets {
				for _, v := range t {
					addrs[string(v)] = true
				}
			}
		}
	}
	for deadline := time.Now().Add(notifierReadyWait); len(e.notifier.Alertmanagers()) < len(addrs) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// Shutdown stops the evaluation loops and the notifier and waits for them; safe before Start and
// idempotent. Alerts not yet delivered are dropped: Alertmanager expires them after their endsAt.
func (e *alertExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	if !e.started {
		return nil
	}
	e.started = false
	e.stopAPI(ctx)
	e.cancel()
	e.notifier.Stop()
	e.wg.Wait() // the reloader first: no generation starts after this
	e.gen.Load().wait()
	e.takeover.wait() // the groups' context ended: lookups under way end
	e.tel.close()
	e.closeClient()
	return nil
}

func (e *alertExporter) closeClient() {
	if e.client != nil {
		_ = e.client.Close(context.Background())
		e.client = nil
	}
}

// ConsumeMetrics converts the metrics to samples, appends those that a rule needs to the store
// and wakes the groups that select them. Samples that cannot be kept are discarded and counted;
// they do not fail the batch (retrying would not help).
func (e *alertExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if e.store == nil {
		return errors.New("cannot accept metrics: the alert exporter is not started")
	}
	app := e.store.NewAppender()
	discarded := map[string]int{}
	appended := 0
	c := newConverter(e.cfg.PromoteResourceAttributes)
	c.wanted = e.store.NameMayBeWanted
	c.discard = func(reason string, n int) { discarded[reason] += n }
	var firstErr error
	lastKept := false
	c.emit = func(l labels.Labels, t int64, f float64) {
		kept, err := app.AppendSample(l, t, f)
		lastKept = kept && err == nil
		switch {
		case err != nil:
			discarded[reasonOf(err)]++
			if firstErr == nil {
				firstErr = err
			}
		case kept:
			appended++
		default:
			discarded[reasonNotNeeded]++
		}
	}
	c.exemplar = func(l labels.Labels, ex exemplar.Exemplar) {
		if lastKept { // the series is held: its exemplars are evidence for its alerts
			_, _ = app.AppendExemplar(0, l, ex)
		}
	}
	c.convert(md)
	for _, o := range app.Touched() {
		e.trigger(o)
	}
	_ = app.Rollback()
	e.tel.record(ctx, appended, c.overridden, discarded)
	if firstErr != nil {
		e.warnRateLimited("samples discarded", firstErr, discarded)
	}
	return nil
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, series.ErrSeriesLimit):
		return reasonSeriesLimit
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return reasonOutOfOrder
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return reasonDuplicate
	}
	return reasonUnsupportedType
}

func (e *alertExporter) warnRateLimited(msg string, err error, discarded map[string]int) {
	now := time.Now().UnixNano()
	last := e.lastWarn.Load()
	if now-last < int64(10*time.Second) || !e.lastWarn.CompareAndSwap(last, now) {
		return
	}
	e.logger.Warn(msg, zap.Error(err), zap.Any("discarded_by_reason", discarded))
}

func (e *alertExporter) runGC(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			e.store.GC(now.UnixMilli())
		}
	}
}

type groupKey struct{}

// groupName is the name of the rule group evaluated with ctx ("" if none).
func (e *alertExporter) groupName(ctx context.Context) string {
	i, ok := ctx.Value(groupKey{}).(int)
	gen := e.gen.Load()
	if !ok || gen == nil || i < 0 || i >= len(gen.groups) {
		return ""
	}
	return gen.groups[i].Name()
}

func withGroup(ctx context.Context, i int) context.Context {
	return context.WithValue(ctx, groupKey{}, i)
}

// ruleAppendable receives the results of recording rules (and ALERTS): they go to the store, and
// wake the other groups that select them.
type ruleAppendable struct{ e *alertExporter }

func (r ruleAppendable) Appender(ctx context.Context) storage.Appender {
	self, ok := ctx.Value(groupKey{}).(int)
	if !ok {
		self = -1
	}
	return &ruleAppender{Appender: r.e.store.NewAppender(), e: r.e, self: self}
}

type ruleAppender struct {
	*series.Appender
	e    *alertExporter
	self int
}

func (a *ruleAppender) Commit() error {
	for _, o := range a.Touched() {
		if o != a.self { // a group reading its own results sees them within the same evaluation
			a.e.trigger(o)
		}
	}
	return a.Appender.Commit()
}
