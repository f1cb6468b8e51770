package series

import (
	"context"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
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
		live := m.samples[m.head:]
		lo := sort.Search(len(live), func(i int) bool { return live[i].t >= mint })
		hi := sort.Search(len(live), func(i int) bool { return live[i].t > maxt })
		if lo >= hi {
			return
		}
		out = append(out, &snapshot{lset: m.lset, samples: slices.Clone(live[lo:hi])})
	}
	if name, ok := metricName(ms); ok {
		for _, m := range q.s.byName[name] {
			visit(m)
		}
	} else {
		for _, list := range q.s.byHash {
			for _, m := range list {
				visit(m)
			}
		}
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
	for _, list := range q.s.byHash {
		for _, m := range list {
			if v := m.lset.Get(name); v != "" && matches(ms, m.lset) {
				set[v] = struct{}{}
			}
		}
	}
	q.s.mu.RUnlock()
	return sortedKeys(set), nil, nil
}

func (q *querier) LabelNames(_ context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	q.s.mu.RLock()
	for _, list := range q.s.byHash {
		for _, m := range list {
			if matches(ms, m.lset) {
				m.lset.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
			}
		}
	}
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

type snapshot struct {
	lset    labels.Labels
	samples []sample
}

func (s *snapshot) Labels() labels.Labels { return s.lset }

func (s *snapshot) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeriesIterator(samples(s.samples))
}

// samples adapts a slice of samples to storage.Samples without boxing each sample.
type samples []sample

func (s samples) Get(i int) chunks.Sample { return &s[i] }
func (s samples) Len() int                { return len(s) }

func (s *sample) T() int64                    { return s.t }
func (*sample) ST() int64                     { return 0 }
func (s *sample) F() float64                  { return s.f }
func (*sample) H() *histogram.Histogram       { return nil }
func (*sample) FH() *histogram.FloatHistogram { return nil }
func (*sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s *sample) Copy() chunks.Sample         { c := *s; return &c }

type seriesSet struct {
	list []*snapshot
	i    int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series              { return s.list[s.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }
