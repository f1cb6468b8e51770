package series

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// Need is what one selector of one rule needs: the series its matchers select, and how far back
// from the evaluation time it reads them.
type Need struct {
	Matchers []*labels.Matcher
	// Window is how far before the evaluation time samples are read.
	Window time.Duration
	// Owner is a number chosen by the caller (e.g. the rule group's index); a commit reports the
	// owners whose series received samples.
	Owner int
}

// NeedsOf returns the needs of a PromQL expression evaluated as an instant query with the given
// lookback delta (Prometheus's default is 5m) and query offset (the rule group's query_offset).
// Each selector's window is the lookback delta (instant selectors) or its range (range
// selectors), plus its offset, plus the range and offset of every enclosing subquery, plus the
// query offset. It fails, with rulefiles.Check's error, for an expression that the streaming store
// cannot serve (the check that `vigil rules check` and `vigil validate` apply).
func NeedsOf(expr parser.Expr, lookback, queryOffset time.Duration, owner int) ([]Need, error) {
	if err := rulefiles.Check(expr); err != nil {
		return nil, err
	}
	var needs []Need
	err := parser.Walk(visitFunc(func(node parser.Node, path []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			needs = append(needs, Need{Matchers: vs.LabelMatchers, Window: addSat(window(vs, path, lookback), positive(queryOffset)), Owner: owner})
		}
		return nil
	}), expr, nil)
	return needs, err
}

// window is how far before the evaluation time a selector reads: lookback (instant selector)
// or its range, its offset, and the range and offset of each enclosing subquery. The sum
// saturates (each term is at most ~292 years, their sum may not be).
func window(vs *parser.VectorSelector, path []parser.Node, lookback time.Duration) time.Duration {
	w := lookback
	if len(path) > 0 {
		if ms, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
			w = ms.Range
		}
	}
	w = addSat(w, positive(vs.OriginalOffset))
	for _, p := range path {
		if sq, ok := p.(*parser.SubqueryExpr); ok {
			// Steps are aligned inside (t-offset-range, t-offset]: alignment never reads earlier.
			w = addSat(addSat(w, sq.Range), positive(sq.OriginalOffset))
		}
	}
	return w
}

// addSat adds two non-negative durations, saturating instead of overflowing.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

type visitFunc func(parser.Node, []parser.Node) error

func (f visitFunc) Visit(node parser.Node, path []parser.Node) (parser.Visitor, error) {
	if node == nil {
		return nil, nil
	}
	return f, f(node, path)
}

func positive(d time.Duration) time.Duration { return max(d, 0) }

// plan indexes needs by metric name, so that a sample of a series no rule needs is dropped after
// one map lookup.
type plan struct {
	byName  map[string][]Need
	unnamed []Need // needs without an equality matcher on the metric name
	sets    map[string]*needSet
}

// needSet is the window and owners of a series, shared by all the series that the same needs
// select.
type needSet struct {
	window int64 // ms
	owners []int
}

func newPlan(needs []Need) *plan {
	p := &plan{byName: map[string][]Need{}, sets: map[string]*needSet{}}
	for _, n := range needs {
		if name, ok := metricName(n.Matchers); ok {
			p.byName[name] = append(p.byName[name], n)
		} else {
			p.unnamed = append(p.unnamed, n)
		}
	}
	return p
}

func metricName(ms []*labels.Matcher) (string, bool) {
	for _, m := range ms {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value, true
		}
	}
	return "", false
}

// wants reports whether any need selects the series, the longest window among them, and the owners.
func (p *plan) wants(l labels.Labels) (bool, int64, []int) {
	var (
		found  bool
		window time.Duration
		owners []int
	)
	check := func(ns []Need) {
		for _, n := range ns {
			if matches(n.Matchers, l) {
				found = true
				window = max(window, n.Window)
				owners = addOwner(owners, n.Owner)
			}
		}
	}
	if ns, ok := p.byName[l.Get(model.MetricNameLabel)]; ok {
		check(ns)
	}
	check(p.unnamed)
	return found, window.Milliseconds(), owners
}

// nameMayBeWanted is a quick pre-check before building or hashing anything.
func (p *plan) nameMayBeWanted(name string) bool {
	if len(p.unnamed) > 0 {
		return true
	}
	_, ok := p.byName[name]
	return ok
}

// intern returns the shared needSet of this window and these owners. The caller holds Store.mu
// for writing.
func (p *plan) intern(window int64, owners []int) *needSet {
	key := make([]byte, 0, 8*(len(owners)+1))
	key = binary.AppendVarint(key, window)
	for _, o := range owners {
		key = binary.AppendVarint(key, int64(o))
	}
	if ns, ok := p.sets[string(key)]; ok {
		return ns
	}
	ns := &needSet{window: window, owners: slices.Clip(owners)}
	p.sets[string(key)] = ns
	return ns
}

func matches(ms []*labels.Matcher, l labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

func addOwner(owners []int, o int) []int {
	for _, x := range owners {
		if x == o {
			return owners
		}
	}
	return append(owners, o)
}
