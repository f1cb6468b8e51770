package series

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// ErrSeriesLimit is returned (wrapped) for a sample of a new series when the store already holds
// Options.MaxSeries series.
var ErrSeriesLimit = errors.New("series limit reached")

// Options configure a Store.
type Options struct {
	// Needs select the series to keep and their windows; see NeedsOf. A sample of a series that
	// no need selects is dropped (and counted in Stats.NotNeeded).
	Needs []Need
	// MaxSeries bounds the number of series held (required, > 0).
	MaxSeries int
	// MaxSeriesSetting names the setting that sets MaxSeries, for error messages (default "max_series").
	MaxSeriesSetting string
	// OnCommit, if set, is called by Appender.Commit with the owners of the needs whose series
	// received samples in that commit (each owner once). It must not call back into the Appender.
	OnCommit func(owners []int)
}

// Stats are counters of a Store since it was created.
type Stats struct {
	Series, Samples int   // held now (Samples counts whole chunks: up to one chunk per series is older than the window)
	Appended        int64 // samples accepted
	NotNeeded       int64 // samples of series no rule selects
	SeriesLimit     int64 // samples rejected because the store held MaxSeries series
	OutOfOrder      int64 // samples older than the newest sample of their series
	Duplicate       int64 // samples at the timestamp of the newest sample, with another value
}

// Store is the in-memory series store. All methods are safe for concurrent use.
type Store struct {
	plan     atomic.Pointer[plan] // replaced by SetNeeds
	max      int
	setting  string
	onCommit func([]int)

	mu     sync.RWMutex
	byHash map[uint64]*memSeries // chained by memSeries.next
	byName map[string][]*memSeries
	count  int
	held   int // samples in all series
	stats  Stats
}

// NewStore returns an empty store.
func NewStore(o Options) (*Store, error) {
	if o.MaxSeries <= 0 {
		return nil, fmt.Errorf("cannot create series store: max_series %d must be positive", o.MaxSeries)
	}
	if o.MaxSeriesSetting == "" {
		o.MaxSeriesSetting = "max_series"
	}
	s := &Store{
		max: o.MaxSeries, setting: o.MaxSeriesSetting, onCommit: o.OnCommit,
		byHash: map[uint64]*memSeries{}, byName: map[string][]*memSeries{},
	}
	s.plan.Store(newPlan(o.Needs))
	return s, nil
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.stats
	st.Series = s.count
	st.Samples = s.held
	return st
}

// Wants reports whether the store keeps a series with these labels; callers may use it to skip
// building samples nobody needs. NameMayBeWanted is the cheaper test on the metric name alone.
func (s *Store) Wants(l labels.Labels) bool { ok, _, _ := s.plan.Load().wants(l); return ok }

// NameMayBeWanted reports whether a series with this metric name can be needed.
func (s *Store) NameMayBeWanted(name string) bool { return s.plan.Load().nameMayBeWanted(name) }

// SetNeeds replaces the needs (after the rules changed): series that no need selects any more are
// forgotten, the others get their new windows and owners (their samples are kept; a window that
// grew fills as samples arrive). It returns the number of series forgotten.
func (s *Store) SetNeeds(needs []Need) int {
	p := newPlan(needs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plan.Store(p)
	return s.filter(func(ms *memSeries) bool {
		ok, window, owners := p.wants(ms.lset)
		if ok {
			ms.need = p.intern(window, owners)
		}
		return ok
	})
}

// append adds one sample; it returns the owners of the series (nil when not kept).
// The caller holds s.mu for writing.
func (s *Store) append(l labels.Labels, t int64, f float64) ([]int, error) {
	p := s.plan.Load()
	if !p.nameMayBeWanted(l.Get(model.MetricNameLabel)) {
		s.stats.NotNeeded++
		return nil, nil
	}
	h := l.Hash()
	ms := s.lookup(h, l)
	if ms == nil {
		ok, window, owners := p.wants(l)
		if !ok {
			s.stats.NotNeeded++
			return nil, nil
		}
		if value.IsStaleNaN(f) {
			// A staleness marker for a series we never held changes no query result.
			return nil, nil
		}
		if s.count >= s.max {
			s.stats.SeriesLimit++
			return nil, fmt.Errorf("cannot add series %s: %w: the store holds %d series (setting %s)", l, ErrSeriesLimit, s.max, s.setting)
		}
		ms = newMemSeries(l.Copy(), p.intern(window, owners))
		ms.next = s.byHash[h]
		s.byHash[h] = ms
		name := ms.lset.Get(model.MetricNameLabel)
		s.byName[name] = append(s.byName[name], ms)
		s.count++
	}
	if !ms.empty() {
		switch {
		case t < ms.lastT:
			s.stats.OutOfOrder++
			return nil, fmt.Errorf("cannot append sample of %s at %d: %w (newest is at %d)", l, t, storage.ErrOutOfOrderSample, ms.lastT)
		case t == ms.lastT:
			if ms.lastF == f || (value.IsStaleNaN(f) && value.IsStaleNaN(ms.lastF)) {
				return nil, nil
			}
			s.stats.Duplicate++
			return nil, fmt.Errorf("cannot append sample of %s at %d: %w", l, t, storage.ErrDuplicateSampleForTimestamp)
		}
	}
	s.held += 1 - ms.add(t, f)
	s.stats.Appended++
	return ms.need.owners, nil
}

func (s *Store) lookup(h uint64, l labels.Labels) *memSeries {
	for ms := s.byHash[h]; ms != nil; ms = ms.next {
		if labels.Equal(ms.lset, l) {
			return ms
		}
	}
	return nil
}

// each calls fn for every series. The caller holds s.mu.
func (s *Store) each(fn func(*memSeries)) {
	for _, ms := range s.byHash {
		for ; ms != nil; ms = ms.next {
			fn(ms)
		}
	}
}

// filter forgets the series for which keep returns false and returns how many it forgot. The
// caller holds s.mu for writing.
func (s *Store) filter(keep func(*memSeries) bool) int {
	removed := 0
	gone := map[*memSeries]struct{}{}
	for h, first := range s.byHash {
		var head, tail *memSeries
		for ms := first; ms != nil; {
			next := ms.next
			ms.next = nil
			if keep(ms) {
				if tail == nil {
					head = ms
				} else {
					tail.next = ms
				}
				tail = ms
			} else {
				removed++
				s.held -= ms.samples()
				gone[ms] = struct{}{}
			}
			ms = next
		}
		if head == nil {
			delete(s.byHash, h)
		} else if head != first {
			s.byHash[h] = head
		}
	}
	s.count -= removed
	s.removeNames(gone)
	return removed
}

// GC forgets every series whose newest sample is older than its window before now (ms since the
// epoch): no rule evaluated at now or later can read it. It returns the number of series removed.
func (s *Store) GC(now int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filter(func(ms *memSeries) bool {
		mint := now - ms.need.window
		if ms.empty() || ms.lastT < mint {
			return false
		}
		s.held -= ms.trim(mint)
		return true
	})
}

// removeNames drops the removed series from the by-name lists, one pass per name: removing them
// one by one would cost the length of the list for each, quadratic when a name loses many.
func (s *Store) removeNames(gone map[*memSeries]struct{}) {
	names := map[string]struct{}{}
	for ms := range gone {
		names[ms.lset.Get(model.MetricNameLabel)] = struct{}{}
	}
	for name := range names {
		list := s.byName[name]
		kept := list[:0]
		for _, x := range list {
			if _, ok := gone[x]; !ok {
				kept = append(kept, x)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(s.byName, name)
		} else {
			s.byName[name] = kept
		}
	}
}
