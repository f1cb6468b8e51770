package series

import (
	"context"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Querier returns a querier over [mint, maxt] (ms, inclusive). It implements storage.Queryable.
// Select copies the selected samples, so a query sees a consistent snapshot while samples keep
// arriving.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Store
	mint, maxt int64
}

func (q *querier) Select(_ context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil && !hints.DisableTrimming {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	var out []*snapshot
	q.s.mu.RLock()
	visit := func(m *memSeries) {
		if !matches(ms, m.lset) {
			return
		}
		if snap := m.snapshot(mint, maxt); snap != nil {
			out = append(out, snap)
		}
	}
	if name, ok := metricName(ms); ok {
		for _, m := range q.s.byName[name] {
			visit(m)
		}
	} else {
		q.s.each(visit)
	}
	q.s.mu.RUnlock()
	if sortSeries {
		slices.SortFunc(out, func(a, b *snapshot) int { return labels.Compare(a.lset, b.lset) })
	}
	return &seriesSet{list: out, i: -1}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (q *querier) LabelValues(_ context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	q.s.mu.RLock()
	q.s.each(func(m *memSeries) {
		if v := m.lset.Get(name); v != "" && matches(ms, m.lset) {
			set[v] = struct{}{}
		}
	})
	q.s.mu.RUnlock()
	return sortedKeys(set), nil, nil
}

func (q *querier) LabelNames(_ context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	q.s.mu.RLock()
	q.s.each(func(m *memSeries) {
		if matches(ms, m.lset) {
			m.lset.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
		}
	})
	q.s.mu.RUnlock()
	return sortedKeys(set), nil, nil
}

func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (*querier) Close() error { return nil }

type seriesSet struct {
	list []*snapshot
	i    int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series              { return s.list[s.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }
