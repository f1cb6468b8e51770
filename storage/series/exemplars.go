package series

import (
	"slices"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// MaxExemplarsPerSeries is how many exemplars a series keeps: the newest ones that carry a trace
// ID. They cost nothing to a series without any (one nil pointer).
const MaxExemplarsPerSeries = 3

// TraceIDLabel is the exemplar label that carries the trace ID (Prometheus's and OpenTelemetry's
// convention); exemplars without it are not kept.
const TraceIDLabel = "trace_id"

// Exemplar is a kept exemplar: a trace ID with its time (ms since the epoch) and value.
type Exemplar struct {
	TraceID string
	T       int64
	V       float64
}

// exemplars is a series' ring of its newest exemplars.
type exemplars struct {
	list [MaxExemplarsPerSeries]Exemplar
	n    int // held, up to MaxExemplarsPerSeries
	next int // where the next one goes
}

func (x *exemplars) add(e Exemplar) {
	for i := range x.n { // the same trace again (each scrape of a counter re-exposes its exemplar)
		if x.list[i].TraceID == e.TraceID {
			if e.T > x.list[i].T {
				x.list[i].T, x.list[i].V = e.T, e.V
			}
			return
		}
	}
	x.list[x.next] = e
	x.next = (x.next + 1) % MaxExemplarsPerSeries
	x.n = min(x.n+1, MaxExemplarsPerSeries)
}

// AppendExemplar keeps the exemplar on the series of l if the store holds that series (append
// its sample first) and the exemplar has a trace ID; others are dropped without error.
func (a *Appender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	trace := e.Labels.Get(TraceIDLabel)
	if trace == "" {
		return ref, nil
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	ms := a.s.lookup(l.Hash(), l)
	if ms == nil {
		return ref, nil
	}
	if ms.ex == nil {
		ms.ex = &exemplars{}
	}
	ms.ex.add(Exemplar{TraceID: trace, T: e.Ts, V: e.Value})
	return ref, nil
}

// Exemplars returns the exemplars of the series that every matcher selects and keep accepts
// (nil: all), newest first, one per trace ID, at most limit.
func (s *Store) Exemplars(ms []*labels.Matcher, keep func(labels.Labels) bool, limit int) []Exemplar {
	var out []Exemplar
	s.mu.RLock()
	visit := func(m *memSeries) {
		if m.ex == nil || !matches(ms, m.lset) || (keep != nil && !keep(m.lset)) {
			return
		}
		out = append(out, m.ex.list[:m.ex.n]...)
	}
	if name, ok := metricName(ms); ok {
		for _, m := range s.byName[name] {
			visit(m)
		}
	} else {
		s.each(visit)
	}
	s.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b Exemplar) int { return cmpInt(b.T, a.T) })
	seen := map[string]bool{}
	kept := out[:0]
	for _, e := range out {
		if !seen[e.TraceID] && len(kept) < limit {
			seen[e.TraceID] = true
			kept = append(kept, e)
		}
	}
	return kept
}
