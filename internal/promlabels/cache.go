package promlabels

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// maxCachedSeries bounds a Cache: past it, the cache starts again empty. A series' entry
// is its key (metric and point attributes) and its labels: a few hundred bytes.
const maxCachedSeries = 1 << 16

// probeName is the gauge added to the batch that Cache.Translate hands Prometheus's translator on
// a cache miss, to have it write each resource's target_info as it would for the whole batch.
const probeName = "vigil_target_info_probe"

// Cache keeps what Prometheus's OTLP translator makes of each series of gauges and sums, across
// batches: a series seen before costs a map lookup instead of the translator building,
// sanitizing and sorting its labels again. What is kept per series is a V, made once from the
// series' labels (by the function given to NewCache: the labels themselves, their hash, their
// encoding...). Safe for concurrent use.
type Cache[V any] struct {
	mu sync.RWMutex
	// resources holds, by resource (its attributes), the series by metric and point attributes:
	// a batch's resource is looked up once, its points by short keys.
	resources map[string]map[string]V
	n         int // series in all
	newSeries func(labels.Labels) V
}

// NewCache returns an empty cache whose series are made by newSeries.
func NewCache[V any](newSeries func(labels.Labels) V) *Cache[V] {
	return &Cache[V]{resources: map[string]map[string]V{}, newSeries: newSeries}
}

// Len returns the number of series cached.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.n
}

// CachedAppender is what Cache.Translate appends to: the float samples of the series it serves
// go to AppendCached, anything else (target_info, and every sample of a batch it does not serve)
// to Append as Prometheus's translator appends them.
type CachedAppender[V any] interface {
	storage.AppenderV2
	// AppendCached appends a float sample of the series s (not kept after the call).
	AppendCached(s *V, t int64, v float64)
}

// Translate is Translator.Translate with the series seen before taken from the cache: the same
// samples, in the same order, as Translate appends, each float sample of a gauge or a cumulative
// sum to AppendCached instead of Append (see translateNumbers). A batch holding anything else is
// translated whole by Prometheus's translator.
func (c *Cache[V]) Translate(ctx context.Context, t *Translator, md pmetric.Metrics, app CachedAppender[V]) error {
	restore := t.Identify(md)
	defer restore()
	settings := t.Settings()
	if c.translateNumbers(ctx, md, settings, app) {
		return nil
	}
	_, err := prw.NewPrometheusConverter(app).FromMetrics(ctx, md, settings)
	return err
}

// numberPoint is one data point of a batch as translateNumbers appends it.
type numberPoint[V any] struct {
	cs  V
	key string // the cache key, for a miss
	t   int64
	v   float64
}

// resourcePoints are the points of one resource, then its target_info samples.
type resourcePoints[V any] struct {
	key        string // the resource's cache key, when some points missed
	points     []numberPoint[V]
	targetInfo []capturedSample
}

// translateNumbers translates a batch of gauges and cumulative sums (without exemplars) as
// FromMetrics does, appending to app the same series with the same samples in the same order,
// with the labels of the series seen before taken from the cache. The labels of the others and
// each resource's target_info come from FromMetrics itself, run on a batch of the resource with
// only those points and a probe gauge spanning the resource's timestamps. It reports false,
// having appended nothing, when the batch holds anything else or the translator did not answer
// as expected: the caller then runs FromMetrics on the whole batch (the promrw exporter's
// TestLabelCacheAsFromMetrics compares the two, byte for byte).
func (c *Cache[V]) translateNumbers(ctx context.Context, md pmetric.Metrics, settings prw.Settings, app CachedAppender[V]) bool {
	if !numbersOnly(md) {
		return false
	}
	out := make([]resourcePoints[V], 0, md.ResourceMetrics().Len())
	all := make([]numberPoint[V], 0, md.DataPointCount()) // every resource's points, in turn
	var key []byte
	for _, rm := range md.ResourceMetrics().All() {
		var rp resourcePoints[V]
		start := len(all)
		key = appendAttributes(key[:0], rm.Resource().Attributes())
		earliest, latest := pcommon.Timestamp(math.MaxUint64), pcommon.Timestamp(0)
		misses := 0
		c.mu.RLock()
		series := c.resources[string(key)] // nil: a resource not seen before
		if series == nil {
			rp.key = string(key)
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				key = appendMetric(key[:0], m)
				mlen := len(key)
				for _, dp := range numberPoints(m).All() {
					key = appendAttributes(key[:mlen], dp.Attributes())
					p := numberPoint[V]{t: int64(dp.Timestamp()) / 1_000_000} // as Prometheus converts it
					switch dp.ValueType() {
					case pmetric.NumberDataPointValueTypeInt:
						p.v = float64(dp.IntValue())
					case pmetric.NumberDataPointValueTypeDouble:
						p.v = dp.DoubleValue()
					}
					if dp.Flags().NoRecordedValue() {
						p.v = math.Float64frombits(value.StaleNaN)
					}
					var ok bool
					if p.cs, ok = series[string(key)]; !ok {
						p.key = string(key)
						misses++
					}
					earliest, latest = min(earliest, dp.Timestamp()), max(latest, dp.Timestamp())
					all = append(all, p)
				}
			}
		}
		c.mu.RUnlock()
		rp.points = all[start:len(all):len(all)]
		if misses > 0 && rp.key == "" {
			rp.key = string(appendAttributes(key[:0], rm.Resource().Attributes()))
		}
		if len(rp.points) > 0 && !c.resolve(ctx, rm, &rp, misses, earliest, latest, settings) {
			return false
		}
		out = append(out, rp)
	}
	// target_info samples of one label set and timestamp are written once per batch, whichever
	// resources they come from, as FromMetrics does.
	type seen struct {
		hash uint64
		t    int64
	}
	var seenInfo map[seen]struct{}
	for i := range out {
		for k := range out[i].points {
			p := &out[i].points[k]
			app.AppendCached(&p.cs, p.t, p.v)
		}
		if len(out) > 1 && seenInfo == nil {
			seenInfo = map[seen]struct{}{}
		}
		for _, s := range out[i].targetInfo {
			if seenInfo != nil {
				k := seen{s.ls.Hash(), s.t}
				if _, ok := seenInfo[k]; ok {
					continue
				}
				seenInfo[k] = struct{}{}
			}
			_, _ = app.Append(0, s.ls, 0, s.t, s.v, nil, nil, storage.AppendV2Options{})
		}
	}
	return true
}

// resolve runs FromMetrics on the resource with its missed points and the probe, takes the
// labels of the missed points (and caches them) and the resource's target_info samples.
func (c *Cache[V]) resolve(ctx context.Context, rm pmetric.ResourceMetrics, rp *resourcePoints[V], misses int, earliest, latest pcommon.Timestamp, settings prw.Settings) bool {
	probe := pmetric.NewMetrics()
	prm := probe.ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(prm.Resource())
	ms := prm.ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName(probeName)
	gdps := g.SetEmptyGauge().DataPoints()
	gdps.AppendEmpty().SetTimestamp(earliest)
	gdps.AppendEmpty().SetTimestamp(latest)
	i := 0
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			var dst pmetric.NumberDataPointSlice
			for _, dp := range numberPoints(m).All() {
				if rp.points[i].key != "" {
					if dst == (pmetric.NumberDataPointSlice{}) {
						dst = copyDescription(m, ms.AppendEmpty())
					}
					dp.CopyTo(dst.AppendEmpty())
				}
				i++
			}
		}
	}
	var got capture
	if _, err := prw.NewPrometheusConverter(&got).FromMetrics(ctx, probe, settings); err != nil {
		return false
	}
	// The probe's two samples, the missed points in order, then target_info only.
	if len(got) < 2+misses || got[0].ls.Get(model.MetricNameLabel) != probeName || got[1].ls.Get(model.MetricNameLabel) != probeName {
		return false
	}
	for _, s := range got[2+misses:] {
		if s.ls.Get(model.MetricNameLabel) != targetInfo {
			return false
		}
	}
	rp.targetInfo = got[2+misses:]
	found := got[2 : 2+misses]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n+misses > maxCachedSeries {
		c.resources, c.n = map[string]map[string]V{}, 0
	}
	series := c.resources[rp.key]
	if series == nil && misses > 0 {
		series = make(map[string]V, misses)
		c.resources[rp.key] = series
	}
	j := 0
	for k := range rp.points {
		p := &rp.points[k]
		if p.key == "" {
			continue
		}
		if found[j].ls.Get(model.MetricNameLabel) == targetInfo {
			return false
		}
		if cs, ok := series[p.key]; ok {
			p.cs = cs
		} else {
			p.cs = c.newSeries(found[j].ls)
			series[p.key] = p.cs
			c.n++
		}
		j++
	}
	return true
}

const targetInfo = "target_info"

// numbersOnly: every metric is a gauge or a cumulative sum with data points, no sum point has
// exemplars (FromMetrics turns them into remote-write exemplars: not cached here), and no name
// could be taken for target_info's or the probe's.
func numbersOnly(md pmetric.Metrics) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if strings.Contains(strings.ToLower(m.Name()), "target") || strings.HasPrefix(m.Name(), "vigil_target") {
					return false
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					if m.Gauge().DataPoints().Len() == 0 {
						return false
					}
				case pmetric.MetricTypeSum:
					s := m.Sum()
					if s.DataPoints().Len() == 0 || s.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
						return false
					}
					for _, dp := range s.DataPoints().All() {
						if dp.Exemplars().Len() > 0 {
							return false
						}
					}
				default:
					return false
				}
			}
		}
	}
	return true
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeSum {
		return m.Sum().DataPoints()
	}
	return m.Gauge().DataPoints()
}

// copyDescription makes dst a metric like m without data points and returns its points.
func copyDescription(m, dst pmetric.Metric) pmetric.NumberDataPointSlice {
	dst.SetName(m.Name())
	dst.SetUnit(m.Unit())
	dst.SetDescription(m.Description())
	m.Metadata().CopyTo(dst.Metadata())
	if m.Type() == pmetric.MetricTypeSum {
		s := dst.SetEmptySum()
		s.SetIsMonotonic(m.Sum().IsMonotonic())
		s.SetAggregationTemporality(m.Sum().AggregationTemporality())
		return s.DataPoints()
	}
	return dst.SetEmptyGauge().DataPoints()
}

// The cache key writes every string with its length first: no two different batches' resources,
// metrics and attributes make the same key, whatever bytes their values hold (a value cannot
// pass for a boundary and give a series another's labels).

// appendMetric appends what the translator reads of a metric to name its series.
func appendMetric(key []byte, m pmetric.Metric) []byte {
	key = append(key, 0xff, byte(m.Type()))
	if m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic() {
		key = append(key, 1)
	} else {
		key = append(key, 0)
	}
	key = appendString(key, m.Name())
	return appendString(key, m.Unit())
}

// appendAttributes appends attributes to a key: their number, then each key, type and value.
func appendAttributes(key []byte, attrs pcommon.Map) []byte {
	key = binary.AppendUvarint(append(key, 0xfe), uint64(attrs.Len()))
	for k, v := range attrs.All() {
		key = append(appendString(key, k), byte(v.Type()))
		if v.Type() == pcommon.ValueTypeStr {
			key = appendString(key, v.Str())
		} else {
			key = appendString(key, v.AsString())
		}
	}
	return key
}

func appendString(key []byte, s string) []byte {
	return append(binary.AppendUvarint(key, uint64(len(s))), s...)
}

// capture is an appender that keeps what it is given.
type capture []capturedSample

type capturedSample struct {
	ls labels.Labels
	t  int64
	v  float64
}

func (c *capture) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, _ *histogram.Histogram, _ *histogram.FloatHistogram, _ storage.AppendV2Options) (storage.SeriesRef, error) {
	*c = append(*c, capturedSample{ls: ls, t: t, v: v})
	return 0, nil
}
func (*capture) Commit() error   { return nil }
func (*capture) Rollback() error { return nil }
