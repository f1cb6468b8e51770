package rulestest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"

	"github.com/vigil-obs/vigil/exporters/alertexporter"
	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// maxEvaluations bounds the evaluations of one test group (its longest eval_time divided by
// evaluation_interval).
const maxEvaluations = 1_000_000

// Summary counts the outcome of Run.
type Summary struct {
	Files, BadFiles  int // test files read, and those that could not be read or are invalid
	Groups, Failed   int // test groups run, and those that failed
	SkippedByPattern int // test groups not selected by the run pattern
}

// OK reports whether every file was read and every test group passed.
func (s Summary) OK() bool { return s.BadFiles == 0 && s.Failed == 0 }

// Run runs the test files, writing to w, for each file, one line per test group (PASS or FAIL,
// and on failure what was expected and what the core gave). run, if set, selects the test groups
// by name, as promtool's --run. Run never stops at a failure.
func Run(ctx context.Context, w io.Writer, run *regexp.Regexp, names ...string) Summary {
	var sum Summary
	for _, name := range names {
		fmt.Fprintf(w, "Unit Testing: %s\n", name)
		f, err := ReadFile(name)
		if err != nil {
			sum.BadFiles++
			fmt.Fprintf(w, "  FAILED: %s\n", indent(err.Error(), "  "))
			continue
		}
		sum.Files++
		for i := range f.Tests {
			if run != nil && !run.MatchString(f.Tests[i].Name) {
				sum.SkippedByPattern++
				continue
			}
			sum.Groups++
			failures := f.runGroup(ctx, i)
			if len(failures) == 0 {
				fmt.Fprintf(w, "  PASS  %s\n", f.testName(i))
				continue
			}
			sum.Failed++
			fmt.Fprintf(w, "  FAIL  %s\n", f.testName(i))
			for _, fl := range failures {
				fmt.Fprintf(w, "    %s\n", indent(fl, "    "))
			}
		}
	}
	return sum
}

func indent(s, prefix string) string { return strings.ReplaceAll(s, "\n", "\n"+prefix) }

// sample is one input sample.
type sample struct {
	l labels.Labels
	t int64
	f float64
	h *histogram.FloatHistogram
}

// inputSamples parses the input series: sample k of a series is at mint + k*interval.
func (tg *TestGroup) inputSamples(mint time.Time, interval time.Duration) ([]sample, []string) {
	var (
		out      []sample
		failures []string
	)
	for i, is := range tg.InputSeries {
		l, vals, err := rulefiles.Parser.ParseSeriesDesc(is.Series + " " + is.Values)
		if err != nil {
			failures = append(failures, fmt.Sprintf("input_series[%d] %q: cannot parse series and values: %v", i, is.Series, err))
			continue
		}
		for k, v := range vals {
			if v.Omitted {
				continue
			}
			t := mint.Add(time.Duration(k) * interval).UnixMilli()
			out = append(out, sample{l: l, t: t, f: v.Value, h: v.Histogram})
		}
	}
	slices.SortStableFunc(out, func(a, b sample) int { return cmp.Compare(a.t, b.t) })
	return out, failures
}

// runGroup runs test group i and returns its failures.
func (f *File) runGroup(ctx context.Context, i int) []string {
	tg := &f.Tests[i]
	evalInterval := time.Duration(f.EvaluationInterval)
	interval := time.Duration(tg.Interval)
	if interval == 0 {
		interval = evalInterval
	}
	mint := time.Unix(0, 0).UTC()
	if !tg.StartTimestamp.IsZero() {
		mint = tg.StartTimestamp.Time
	}
	maxEval := tg.maxEvalTime()
	if n := maxEval / evalInterval; n > maxEvaluations {
		return []string{fmt.Sprintf("eval_time %s at evaluation_interval %s needs %d evaluations; the limit is %d",
			model.Duration(maxEval), f.EvaluationInterval, n, maxEvaluations)}
	}
	maxt := mint.Add(maxEval)
	input, failures := tg.inputSamples(mint, interval)
	if len(failures) > 0 {
		return failures
	}

	// Everything: the input and what the rules write, for promql_expr_test.
	all, err := teststorage.NewWithError()
	if err != nil {
		return []string{fmt.Sprintf("cannot create the storage of the expression tests: %v", err)}
	}
	defer all.Close()
	core, err := alertexporter.NewReplay(alertexporter.ReplaySettings{
		RuleFiles: f.RuleFiles, EvaluationInterval: evalInterval,
		ExternalLabels: tg.ExternalLabels, ExternalURL: tg.ExternalURL, Output: all,
	})
	if err != nil {
		return []string{fmt.Sprintf("cannot start the streaming core: %v", err)}
	}
	defer core.Close()
	for _, err := range core.Skipped() {
		var ge *rulefiles.GroupError
		if errors.As(err, &ge) {
			failures = append(failures, fmt.Sprintf("rule group %q is not evaluated by vigil: %v", ge.Group, err))
		} else {
			failures = append(failures, fmt.Sprintf("rules are not loaded by vigil: %v", err))
		}
	}
	if len(failures) > 0 {
		return failures
	}
	core.Order(f.GroupEvalOrder)
	for _, g := range core.Groups() {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true) // ALERTS from the first evaluation, as promtool
			}
		}
	}

	alertTimes := map[model.Duration][]AlertTest{}
	for _, at := range tg.AlertRuleTests {
		alertTimes[at.EvalTime] = append(alertTimes[at.EvalTime], at)
	}
	times := make([]model.Duration, 0, len(alertTimes))
	for t := range alertTimes {
		times = append(times, t)
	}
	slices.Sort(times)

	next := 0 // of input
	for ts := mint; !ts.After(maxt); ts = ts.Add(evalInterval) {
		app := all.Appender(ctx)
		for ; next < len(input) && input[next].t <= ts.UnixMilli(); next++ {
			s := input[next]
			if s.h != nil {
				_, err = app.AppendHistogram(0, s.l, s.t, nil, s.h)
				if err == nil && core.Wants(s.l) {
					err = errors.New("it holds native histograms, which vigil's streaming core does not evaluate (a rule selects it)")
				}
			} else if _, err = app.Append(0, s.l, s.t, s.f); err == nil {
				err = core.Append(s.l, s.t, s.f)
			}
			if err != nil {
				_ = app.Rollback()
				return append(failures, fmt.Sprintf("input series %s at %s: %v", s.l, model.Duration(time.UnixMilli(s.t).Sub(mint)), err))
			}
		}
		if err := app.Commit(); err != nil {
			return append(failures, fmt.Sprintf("cannot store the input series: %v", err))
		}
		if errs := core.Eval(ctx, ts); len(errs) > 0 {
			for _, err := range errs {
				failures = append(failures, fmt.Sprintf("time: %s, %v", model.Duration(ts.Sub(mint)), err))
			}
			return failures
		}
		// Alert tests at ts <= eval_time < ts + evaluation_interval read this evaluation.
		for end := ts.Add(evalInterval).Sub(mint); len(times) > 0 && time.Duration(times[0]) < end; times = times[1:] {
			for _, at := range alertTimes[times[0]] {
				if fl := checkAlerts(core.Groups(), at); fl != "" {
					failures = append(failures, fl)
				}
			}
		}
	}
	return append(failures, f.checkExprs(ctx, tg, all, mint)...)
}

// maxEvalTime is the longest eval_time of the group's tests.
func (tg *TestGroup) maxEvalTime() time.Duration {
	var m model.Duration
	for _, at := range tg.AlertRuleTests {
		m = max(m, at.EvalTime)
	}
	for _, et := range tg.PromqlExprTests {
		m = max(m, et.EvalTime)
	}
	return time.Duration(m)
}

// alert is a firing alert's labels and annotations.
type alert struct{ labels, annotations labels.Labels }

func (a alert) String() string { return a.labels.String() + " " + a.annotations.String() }

func compareAlerts(a, b alert) int {
	if c := labels.Compare(a.labels, b.labels); c != 0 {
		return c
	}
	return labels.Compare(a.annotations, b.annotations)
}

// checkAlerts compares the firing alerts of the rules named at.Alertname (in every group) with
// the expected ones; it returns "" if they are equal, else what was expected and what was got.
func checkAlerts(groups []*rules.Group, at AlertTest) string {
	var got []alert
	for _, g := range groups {
		for _, r := range g.Rules() {
			ar, ok := r.(*rules.AlertingRule)
			if !ok || ar.Name() != at.Alertname {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State == rules.StateFiring {
					got = append(got, alert{a.Labels.Copy(), a.Annotations.Copy()})
				}
			}
		}
	}
	exp := make([]alert, 0, len(at.ExpAlerts))
	for _, ea := range at.ExpAlerts {
		b := labels.NewBuilder(labels.FromMap(ea.ExpLabels))
		b.Set(labels.AlertName, at.Alertname)
		exp = append(exp, alert{b.Labels(), labels.FromMap(ea.ExpAnnotations)})
	}
	slices.SortFunc(got, compareAlerts)
	slices.SortFunc(exp, compareAlerts)
	if slices.EqualFunc(exp, got, func(a, b alert) bool { return compareAlerts(a, b) == 0 }) {
		return ""
	}
	return fmt.Sprintf("alertname: %s, time: %s,\n    exp: %s\n    got: %s", at.Alertname, at.EvalTime, listOf(exp), listOf(got))
}

// listOf prints one item a line, numbered.
func listOf[T fmt.Stringer](items []T) string {
	if len(items) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, it := range items {
		fmt.Fprintf(&b, "\n      %d: %s", i, it)
	}
	b.WriteString("\n    ]")
	return b.String()
}

// exprSample is a sample of an expression's result.
type exprSample struct {
	labels    labels.Labels
	value     float64
	histogram string // FloatHistogram.TestExpression
}

func (s exprSample) String() string {
	if s.histogram != "" {
		return s.labels.String() + " " + s.histogram
	}
	return s.labels.String() + " " + strconv.FormatFloat(s.value, 'g', -1, 64)
}

// checkExprs evaluates the promql_expr_test expressions with Prometheus's engine over all.
func (f *File) checkExprs(ctx context.Context, tg *TestGroup, all storage.Queryable, mint time.Time) []string {
	if len(tg.PromqlExprTests) == 0 {
		return nil
	}
	step := time.Duration(f.EvaluationInterval).Milliseconds()
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 50_000_000, Timeout: 2 * time.Minute, LookbackDelta: 5 * time.Minute,
		EnableAtModifier: true, EnableNegativeOffset: true, Parser: rulefiles.Parser,
		NoStepSubqueryIntervalFn: func(int64) int64 { return step },
	})
	defer engine.Close()
	equal := func(a, b float64) bool { return a == b }
	if f.FuzzyCompare {
		equal = func(a, b float64) bool {
			return a == b || math.Nextafter(a, math.Inf(-1)) == b || math.Nextafter(a, math.Inf(1)) == b
		}
	}
	var failures []string
	for _, et := range tg.PromqlExprTests {
		where := fmt.Sprintf("expr: %q, time: %s", et.Expr, et.EvalTime)
		got, err := query(ctx, engine, all, et.Expr, mint.Add(time.Duration(et.EvalTime)))
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s, err: %v", where, err))
			continue
		}
		exp, err := expectedSamples(et.ExpSamples)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s, err: %v", where, err))
			continue
		}
		byLabels := func(a, b exprSample) int { return labels.Compare(a.labels, b.labels) }
		slices.SortFunc(exp, byLabels)
		slices.SortFunc(got, byLabels)
		if !slices.EqualFunc(exp, got, func(a, b exprSample) bool {
			return labels.Equal(a.labels, b.labels) && equal(a.value, b.value) && a.histogram == b.histogram
		}) {
			failures = append(failures, fmt.Sprintf("%s,\n    exp: %s\n    got: %s", where, listOf(exp), listOf(got)))
		}
	}
	return failures
}

func query(ctx context.Context, engine *promql.Engine, q storage.Queryable, expr string, t time.Time) ([]exprSample, error) {
	qry, err := engine.NewInstantQuery(ctx, q, nil, expr, t)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	var out []exprSample
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			es := exprSample{labels: s.Metric, value: s.F}
			if s.H != nil {
				es.value, es.histogram = 0, s.H.TestExpression()
			}
			out = append(out, es)
		}
	case promql.Scalar:
		out = append(out, exprSample{labels: labels.EmptyLabels(), value: v.V})
	default:
		return nil, fmt.Errorf("the result is a %s, not a vector or scalar", res.Value.Type())
	}
	return out, nil
}

func expectedSamples(in []ExpectedSample) ([]exprSample, error) {
	out := make([]exprSample, 0, len(in))
	for _, s := range in {
		l := labels.EmptyLabels()
		if strings.TrimSpace(s.Labels) != "" {
			var err error
			if l, err = rulefiles.Parser.ParseMetric(s.Labels); err != nil {
				return nil, fmt.Errorf("labels %q: %w", s.Labels, err)
			}
		}
		es := exprSample{labels: l, value: s.Value}
		if s.Histogram != "" {
			_, vals, err := rulefiles.Parser.ParseSeriesDesc("{} " + s.Histogram)
			switch {
			case err != nil:
				return nil, fmt.Errorf("histogram %q: %w", s.Histogram, err)
			case len(vals) != 1 || vals[0].Histogram == nil:
				return nil, fmt.Errorf("histogram %q: must be one histogram, e.g. {{sum:3 count:2 buckets:[2]}}", s.Histogram)
			}
			es.value, es.histogram = 0, vals[0].Histogram.TestExpression()
		}
		out = append(out, es)
	}
	return out, nil
}
