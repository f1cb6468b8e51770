package alertexporter

import (
	"context"
	"crypto/sha256"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

// generation is the set of rule groups loaded from the rule files at one time, with one
// evaluation loop per group. A reload replaces it with the next one.
type generation struct {
	keys     []string // GroupKey (file;name), sorted: the index is the owner in the store's needs
	groups   []*rules.Group
	triggers []chan struct{} // per group, capacity 1
	skipped  []skippedGroup  // groups, files and patterns not loaded because of problems
	initial  bool            // the first generation after start: restores alert state
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// wait stops the generation's loops and waits for them.
func (g *generation) wait() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
}

// load builds the groups of the rule files (patternErr: the patterns that matched no file) and
// the store's needs for them. Problems never fail it: see skipped.go. prev is the generation in
// force (nil at start).
func (e *alertExporter) load(files []string, patternErr error, initial bool, prev *generation) (*generation, []series.Need) {
	byKey, skipped := e.loadGroups(files, patternErr, prev)
	gen := &generation{initial: initial, skipped: skipped}
	for k := range byKey {
		gen.keys = append(gen.keys, k)
	}
	slices.Sort(gen.keys)
	var (
		needs     []series.Need
		intervals []time.Duration
	)
	restoring := initial && e.restore
	for i, k := range gen.keys {
		g := byKey[k]
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok && !restoring {
				ar.SetRestored(true) // no state to restore: emit ALERTS and ALERTS_FOR_STATE from the start
			}
			ns, _ := series.NeedsOf(r.Query(), e.cfg.LookbackDelta, g.QueryOffset(), i) // checked by loadGroups
			needs = append(needs, ns...)
		}
		gen.groups = append(gen.groups, g)
		gen.triggers = append(gen.triggers, make(chan struct{}, 1))
		intervals = append(intervals, g.Interval())
	}
	if e.restore {
		// The newest ALERTS_FOR_STATE sample of each alert, for the state saver.
		needs = append(needs, series.Need{
			Matchers: []*labels.Matcher{forStateMatcher()}, Window: 2 * maxInterval(intervals), Owner: -1,
		})
	}
	e.reportSkipped(skipped)
	return gen, needs
}

func (e *alertExporter) startGeneration(ctx context.Context, gen *generation) {
	ctx, gen.cancel = context.WithCancel(ctx)
	for i := range gen.groups {
		gen.wg.Go(func() { e.runGroup(ctx, gen, i) })
	}
}

func (e *alertExporter) markRestored() { e.restoredOnce.Do(func() { close(e.restored) }) }

// trigger wakes the evaluation loop of group i (without blocking; one pending wake is enough).
// An owner of a previous generation may wake the wrong group once: an extra evaluation.
func (e *alertExporter) trigger(i int) {
	gen := e.gen.Load()
	if i < 0 || gen == nil || i >= len(gen.triggers) {
		return // not a group (the state saver's need), or from before a reload
	}
	select {
	case gen.triggers[i] <- struct{}{}:
	default:
	}
}

// runGroup evaluates group i when samples it selects arrive, at most once per min_eval_interval,
// and at least once per group interval.
func (e *alertExporter) runGroup(ctx context.Context, gen *generation, i int) {
	g, wake := gen.groups[i], gen.triggers[i]
	ctx = withGroup(ctx, i)
	timer := time.NewTimer(g.Interval())
	defer timer.Stop()
	var last time.Time
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if wait := e.cfg.MinEvalInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				select { // what arrived meanwhile is covered by this evaluation
				case <-wake:
				default:
				}
			}
		case <-timer.C:
		}
		last = time.Now()
		g.Eval(ctx, last)
		e.tel.evaluated(ctx, gen.keys[i], time.Since(last))
		if first && gen.initial {
			if e.restore {
				g.RestoreForState(last) // as Prometheus does after a group's first evaluation
			}
			if e.pending.Add(-1) == 0 {
				e.markRestored()
			}
		}
		e.takeover.adopt(ctx, g, last, func() { e.trigger(i) }) // after a restore: an alert restored is not new
		first = false
		timer.Reset(nextEval(g, last))
	}
}

// nextEval is when the group must be evaluated without new samples: after its interval, or
// sooner when a pending alert's `for` (or a firing alert's keep_firing_for) ends before that, so
// that the alert fires (or resolves) on time and not at the next arrival.
func nextEval(g *rules.Group, now time.Time) time.Duration {
	next := g.Interval()
	for _, r := range g.Rules() {
		ar, ok := r.(*rules.AlertingRule)
		if !ok {
			continue
		}
		for _, a := range ar.ActiveAlerts() {
			var at time.Time
			switch {
			case a.State == rules.StatePending:
				at = a.ActiveAt.Add(ar.HoldDuration())
			case !a.KeepFiringSince.IsZero():
				at = a.KeepFiringSince.Add(ar.KeepFiringFor())
			default:
				continue
			}
			if d := at.Sub(now); d < next {
				next = max(d, minTimedEval)
			}
		}
	}
	return next
}

// minTimedEval is the shortest wait before a timed evaluation.
const minTimedEval = 10 * time.Millisecond

// runReloader checks the rule files every reload_interval and reloads them when their list or
// contents changed. Problems never stop it: see skipped.go; a reload with problems is counted as
// a failure.
func (e *alertExporter) runReloader(ctx context.Context, last [32]byte) {
	t := time.NewTicker(e.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		files, patternErr := rulefiles.Expand(e.cfg.RuleFiles)
		digest := rulesDigest(files)
		if digest == last || !e.settled(ctx, digest) {
			continue
		}
		last = digest
		e.tel.reloaded(ctx, e.reload(ctx, files, patternErr) == 0)
	}
}

// reloadSettle is how long changed rule files must stay the same before they are loaded: a file
// written in place is empty, then partly written, for a moment, and loading it then would drop
// the rules (and resolve their alerts) until the next check.
const reloadSettle = time.Second

// settled reports whether the rule files still read as digest after reloadSettle.
func (e *alertExporter) settled(ctx context.Context, digest [32]byte) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(reloadSettle):
	}
	files, err := rulefiles.Expand(e.cfg.RuleFiles)
	if err != nil {
		return true // the caller reports it
	}
	return rulesDigest(files) == digest
}

// rulesDigest hashes the file names and contents (an unreadable file hashes its error).
func rulesDigest(files []string) [32]byte {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f + "\x00"))
		var b []byte
		var err error
		if name, ok := strings.CutPrefix(f, rulefiles.BuiltinPrefix); ok {
			b = []byte(name) // built into the binary: never changes
		} else if b, err = os.ReadFile(f); err != nil {
			b = []byte(err.Error())
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return [32]byte(h.Sum(nil))
}

// reload replaces the groups, keeping the state (active alerts, for timers, series of recording
// rules) of every group that keeps its file and name, as Prometheus's rules manager does. It
// returns the number of problems (skipped groups, files and patterns).
func (e *alertExporter) reload(ctx context.Context, files []string, patternErr error) int {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	prev := e.gen.Load()
	next, needs := e.load(files, patternErr, false, prev)
	prev.wait()
	old := map[string]*rules.Group{}
	for i, k := range prev.keys {
		old[k] = prev.groups[i]
	}
	for i, k := range next.keys {
		if g, ok := old[k]; ok && g != next.groups[i] { // a group kept in force has its state
			next.groups[i].CopyState(g)
		}
	}
	e.markRestored() // a reload ends the wait for the first generation's restore
	removed := e.store.SetNeeds(needs)
	e.gen.Store(next)
	e.startGeneration(ctx, next)
	for i := range next.groups {
		e.trigger(i) // evaluate the new rules now
	}
	e.files = files
	e.logger.Info("alert rules reloaded", zap.Int("groups", len(next.groups)), zap.Int("skipped", len(next.skipped)),
		zap.Int("selectors", len(needs)), zap.Int("series_forgotten", removed), zap.Strings("files", files))
	return len(next.skipped)
}
