package archivequery

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/grafana/loki/v3/pkg/logproto"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/storage/archive"
)

// sample is one sample extracted from an event.
type sample struct {
	ts     int64
	value  float64
	labels string // the sample's labels after the pipeline, as Loki writes them
	stream uint64 // hash of the event's stream labels
}

// cursor walks the samples of one object, sorted by time.
type cursor struct {
	samples []sample
	i       int
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	a, b := h[i].samples[h[i].i], h[j].samples[h[j].i]
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.labels < b.labels
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// sampleIterator is the iter.SampleIterator Loki's engine consumes: the samples of the candidate
// objects in time order. Objects are opened as the merge reaches their first event time (an
// object's events are all at or after its manifest entry's first_time), a few at a time in
// parallel, so that memory holds the samples of the objects that overlap the current time plus
// those read ahead, never the whole range.
type sampleIterator struct {
	ctx     context.Context
	e       *Engine
	expr    syntax.SampleExpr
	sel     syntax.LogSelectorExpr
	q       Query
	pending []candidate // not yet opened, by first event time
	heap    cursorHeap
	cur     sample
	err     error
	workers int
	st      Stats
	peak    int // the most objects held at once (tests)
}

func newSampleIterator(ctx context.Context, e *Engine, expr syntax.SampleExpr, sel syntax.LogSelectorExpr, cands []candidate, q Query) *sampleIterator {
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].from.Before(cands[j].from) })
	workers := e.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &sampleIterator{ctx: ctx, e: e, expr: expr, sel: sel, q: q, pending: cands, workers: workers}
}

func (it *sampleIterator) Next() bool {
	if it.err != nil {
		return false
	}
	if err := it.fill(); err != nil {
		it.err = err
		return false
	}
	if len(it.heap) == 0 {
		return false
	}
	c := it.heap[0]
	it.cur = c.samples[c.i]
	c.i++
	if c.i == len(c.samples) {
		heap.Pop(&it.heap)
	} else {
		heap.Fix(&it.heap, 0)
	}
	return true
}

// fill opens the pending objects that can hold a sample before the next one of the heap.
func (it *sampleIterator) fill() error {
	for len(it.pending) > 0 {
		n := 0
		if len(it.heap) > 0 {
			next := it.heap[0].samples[it.heap[0].i].ts
			for n < len(it.pending) && it.pending[n].from.UnixNano() <= next {
				n++
			}
			if n == 0 {
				return nil
			}
		}
		n = max(n, min(it.workers, len(it.pending))) // read ahead: one object per worker
		batch := it.pending[:n]
		it.pending = it.pending[n:]
		if err := it.open(batch); err != nil {
			return err
		}
	}
	return nil
}

// open extracts the samples of a batch of objects, workers at a time, and adds them to the merge.
func (it *sampleIterator) open(batch []candidate) error {
	if err := it.ctx.Err(); err != nil {
		return err
	}
	out := make([][]sample, len(batch))
	scans := make([]scanStats, len(batch))
	sem := make(chan struct{}, it.workers)
	var wg sync.WaitGroup
	for i := range batch {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], scans[i] = it.extract(batch[i])
		})
	}
	wg.Wait()
	for i := range batch {
		if scans[i].err != nil {
			var oe *archive.ObjectError
			if !errors.As(scans[i].err, &oe) {
				return scans[i].err
			}
			it.st.Problems = append(it.st.Problems, objectProblem(oe.Problem, batch[i].chain))
		}
		it.st.Objects++
		it.st.Bytes += batch[i].entry.Size
		it.st.RawBytes += scans[i].rawBytes
		it.st.Events += scans[i].events
		if len(out[i]) > 0 {
			heap.Push(&it.heap, &cursor{samples: out[i]})
		}
	}
	it.peak = max(it.peak, len(it.heap))
	return nil
}

// extract reads one object and runs every event through the selector and the sample extraction.
func (it *sampleIterator) extract(c candidate) ([]sample, scanStats) {
	var st scanStats
	_, events, err := archive.ReadObjectOf(it.ctx, it.e.Bucket, c.stream, c.entry)
	if err != nil {
		st.err = err
		return nil, st
	}
	extractors, err := it.expr.Extractors() // per object: extractors are not safe concurrently
	if err != nil || len(extractors) != 1 {
		st.err = ParseError{fmt.Errorf("cannot build the sample extraction of %s: %v", it.expr, err)}
		return nil, st
	}
	prefilter, err := newPrefilter(it.sel)
	if err != nil {
		st.err = ParseError{err}
		return nil, st
	}
	matchers := it.sel.Matchers()
	names := map[uint64]string{}
	var out []sample
	for _, line := range events {
		st.events++
		st.rawBytes += int64(len(line)) + 1
		if !prefilter.passes(line) {
			continue
		}
		lbls, ts := parseEvent(c.stream, line, c.from)
		if (!it.q.From.IsZero() && ts.Before(it.q.From)) || (!it.q.To.IsZero() && !ts.Before(it.q.To)) {
			continue
		}
		if !matchesAll(lbls, matchers) {
			continue
		}
		samples, ok := extractors[0].ForStream(lbls).Process(ts.UnixNano(), line, labels.EmptyLabels())
		if !ok {
			continue
		}
		for _, s := range samples {
			h := s.Labels.Hash()
			name, ok := names[h]
			if !ok {
				name = s.Labels.String()
				names[h] = name
			}
			out = append(out, sample{ts: ts.UnixNano(), value: s.Value, labels: name, stream: lbls.Hash()})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ts < out[j].ts })
	return out, st
}

func (it *sampleIterator) At() logproto.Sample {
	return logproto.Sample{Timestamp: it.cur.ts, Value: it.cur.value}
}
func (it *sampleIterator) Labels() string     { return it.cur.labels }
func (it *sampleIterator) StreamHash() uint64 { return it.cur.stream }
func (it *sampleIterator) Err() error         { return it.err }
func (it *sampleIterator) Close() error {
	it.heap = nil
	return nil
}

// skipped is the number of candidates the iterator never opened.
func (it *sampleIterator) skipped() int { return len(it.pending) }
