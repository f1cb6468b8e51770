package federateexporter

import (
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigil-obs/vigil/internal/promlabels"
)

// sample is the latest value of one series.
type sample struct {
	labels labels.Labels
	t      int64 // the sample's timestamp, ms
	v      float64
	seen   int64 // when it was last updated, unix ns (for expire_after)
}

// store holds the latest sample of each series, at most max of them.
type store struct {
	mu     sync.Mutex
	series map[uint64][]*sample // by labels hash; more than one only on a hash collision
	n      int
	max    int
}

func newStore(maxSeries int) *store {
	return &store{series: map[uint64][]*sample{}, max: maxSeries}
}

// put records v at t for ls, received at now; an older sample than the one held is ignored. It
// reports false when ls is a new series beyond max.
func (s *store) put(ls labels.Labels, t int64, v float64, now int64) bool {
	return s.putHashed(ls, ls.Hash(), t, v, now)
}

// putHashed is put with h, the hash of ls.
func (s *store) putHashed(ls labels.Labels, h uint64, t int64, v float64, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.series[h] {
		if labels.Equal(e.labels, ls) {
			if t >= e.t {
				e.t, e.v = t, v
			}
			e.seen = now
			return true
		}
	}
	if s.n >= s.max {
		return false
	}
	s.series[h] = append(s.series[h], &sample{labels: ls, t: t, v: v, seen: now})
	s.n++
	return true
}

// expire removes the series not updated since before, and returns how many are left.
func (s *store) expire(before int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, es := range s.series {
		kept := slices.DeleteFunc(es, func(e *sample) bool { return e.seen < before })
		s.n -= len(es) - len(kept)
		if len(kept) == 0 {
			delete(s.series, h)
		} else {
			s.series[h] = kept
		}
	}
	return s.n
}

// selectSamples returns copies of the samples updated at or after since that match one of
// every non-empty list of selectors (a list that is empty selects everything).
func (s *store) selectSamples(since int64, selectorLists ...[][]*labels.Matcher) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sample
	for _, es := range s.series {
		for _, e := range es {
			if e.seen < since {
				continue
			}
			ok := true
			for _, sels := range selectorLists {
				if len(sels) > 0 && !matchesAny(e.labels, sels) {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, *e)
			}
		}
	}
	return out
}

func matchesAny(ls labels.Labels, sels [][]*labels.Matcher) bool {
	for _, ms := range sels {
		all := true
		for _, m := range ms {
			if !m.Matches(ls.Get(m.Name)) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// seriesRef is a series as the label cache keeps it: its labels and their hash.
type seriesRef struct {
	ls   labels.Labels
	hash uint64
}

func newSeriesRef(ls labels.Labels) seriesRef { return seriesRef{ls: ls, hash: ls.Hash()} }

// appender is the storage.AppenderV2 that the OTLP translation appends one batch to.
type appender struct {
	store     *store
	now       int64
	maxSeries int // series refused for max_series
	native    int // native histogram samples, which the text exposition cannot carry
}

func (a *appender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AppendV2Options) (storage.SeriesRef, error) {
	if h != nil || fh != nil {
		a.native++
		return 0, nil
	}
	if !a.store.put(ls, t, v, a.now) {
		a.maxSeries++
	}
	return 0, nil
}

// AppendCached records a float sample of a series from the label cache.
func (a *appender) AppendCached(s *seriesRef, t int64, v float64) {
	if !a.store.putHashed(s.ls, s.hash, t, v, a.now) {
		a.maxSeries++
	}
}

func (*appender) Commit() error   { return nil }
func (*appender) Rollback() error { return nil }

var _ promlabels.CachedAppender[seriesRef] = (*appender)(nil)
