package series

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// ErrHistogramUnsupported is returned for native histogram samples: the store holds floats only
// (classic histograms arrive as _bucket, _sum and _count float series).
var ErrHistogramUnsupported = errors.New("native histograms are not supported by the series store")

// Appender adds samples to a Store. Samples are visible to queries as soon as Append returns;
// Commit reports the owners whose series received samples to Options.OnCommit. Rollback cannot
// take samples back: it only skips that report. An Appender is not safe for concurrent use; the
// Store is, so use one Appender per goroutine.
type Appender struct {
	s       *Store
	touched []int
	seen    map[int]struct{}
}

var _ storage.Appender = (*Appender)(nil)

// Appender returns a new Appender; it implements storage.Appendable.
func (s *Store) Appender(context.Context) storage.Appender { return s.NewAppender() }

// NewAppender returns a new Appender.
func (s *Store) NewAppender() *Appender { return &Appender{s: s, seen: map[int]struct{}{}} }

// Append adds a float sample (value.StaleNaN marks the series stale). A sample of a series no rule
// needs is dropped without error. Errors: out of order or duplicate timestamp
// (storage.ErrOutOfOrderSample, storage.ErrDuplicateSampleForTimestamp) and ErrSeriesLimit; the
// sample is dropped and the Appender stays usable.
func (a *Appender) Append(_ storage.SeriesRef, l labels.Labels, t int64, f float64) (storage.SeriesRef, error) {
	_, err := a.AppendSample(l, t, f)
	return 0, err
}

// AppendSample is Append that also reports whether a rule needs the series (false: dropped).
func (a *Appender) AppendSample(l labels.Labels, t int64, f float64) (kept bool, err error) {
	a.s.mu.Lock()
	owners, err := a.s.append(l, t, f)
	a.s.mu.Unlock()
	for _, o := range owners {
		if _, ok := a.seen[o]; !ok {
			a.seen[o] = struct{}{}
			a.touched = append(a.touched, o)
		}
	}
	return owners != nil, err
}

// Touched returns the owners whose series received samples since the last Commit or Rollback.
func (a *Appender) Touched() []int { return a.touched }

// Commit reports the touched owners to Options.OnCommit and resets them.
func (a *Appender) Commit() error {
	if len(a.touched) > 0 && a.s.onCommit != nil {
		a.s.onCommit(a.touched)
	}
	a.reset()
	return nil
}

// Rollback forgets the touched owners (the samples stay).
func (a *Appender) Rollback() error { a.reset(); return nil }

func (a *Appender) reset() {
	a.touched = a.touched[:0]
	clear(a.seen)
}

// SetOptions is a no-op: the store does not discard out-of-order samples on request.
func (*Appender) SetOptions(*storage.AppendOptions) {}

// AppendHistogram rejects native histograms with ErrHistogramUnsupported.
func (*Appender) AppendHistogram(_ storage.SeriesRef, l labels.Labels, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, fmt.Errorf("cannot append sample of %s: %w", l, ErrHistogramUnsupported)
}

// AppendHistogramSTZeroSample rejects native histograms with ErrHistogramUnsupported.
func (*Appender) AppendHistogramSTZeroSample(_ storage.SeriesRef, l labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, fmt.Errorf("cannot append sample of %s: %w", l, ErrHistogramUnsupported)
}

// UpdateMetadata drops metadata: rules do not read it.
func (*Appender) UpdateMetadata(ref storage.SeriesRef, _ labels.Labels, _ metadata.Metadata) (storage.SeriesRef, error) {
	return ref, nil
}

// AppendSTZeroSample ignores start-time zero samples (as Prometheus does unless its
// created-timestamp feature is enabled).
func (*Appender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}
