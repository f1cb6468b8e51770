package redconnector

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// snapshot is the values of every series at one flush, copied under the lock; the metrics are
// built from it after the lock is released. The attribute maps it points to are never changed
// once made, so they are read without the lock.
type snapshot struct {
	resources []resourceSnap
	series    []seriesSnap
	buckets   []uint64
	exemplars []exemplar
}

type resourceSnap struct {
	attrs    pcommon.Map
	from, to int // in series
}

type seriesSnap struct {
	attrs        pcommon.Map
	start        pcommon.Timestamp
	calls        int64
	count        uint64
	sum          float64
	buckets      int // offset in snapshot.buckets
	exFrom, exTo int // in snapshot.exemplars
}

// flush sends every series held (and those evicted since the last flush, one last time) on.
func (c *red) flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	now := pcommon.NewTimestampFromTime(c.now())
	c.take(&c.snap, now)
	c.mu.Unlock()
	if len(c.snap.resources) == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, c.build(&c.snap, now))
}

// take copies the series into sn, clears their exemplars, marks them sent and forgets the
// resources evicted or expired. The caller holds c.mu.
func (c *red) take(sn *snapshot, now pcommon.Timestamp) {
	s := c.store
	clear(sn.resources) // drop the references of the last flush
	clear(sn.series)
	sn.resources, sn.series, sn.buckets, sn.exemplars = sn.resources[:0], sn.series[:0], sn.buckets[:0], sn.exemplars[:0]
	add := func(sr *series) {
		calls := int64(sr.calls)
		if !sr.sent { // a new series starts at 0, so that Prometheus's rate sees its first calls
			calls, sr.sent = 0, true
		}
		sn.series = append(sn.series, seriesSnap{attrs: sr.attrs, start: sr.start, calls: calls, count: sr.count, sum: sr.sum,
			buckets: len(sn.buckets), exFrom: len(sn.exemplars), exTo: len(sn.exemplars) + len(sr.exemplars)})
		sn.buckets = append(sn.buckets, sr.buckets...)
		sn.exemplars = append(sn.exemplars, sr.exemplars...)
		sr.exemplars = sr.exemplars[:0]
	}
	for _, list := range [][]*resource{s.resources, s.evicted} {
		for _, r := range list {
			from := len(sn.series)
			for _, sr := range r.series {
				add(sr)
			}
			if r.overflow != nil {
				add(r.overflow)
			}
			if len(sn.series) > from {
				sn.resources = append(sn.resources, resourceSnap{attrs: r.attrs, from: from, to: len(sn.series)})
			}
		}
	}
	clear(s.evicted)
	s.evicted = s.evicted[:0]
	clear(s.evictedBy)
	if c.cfg.MetricsExpiration > 0 {
		s.expire(int64(now) - c.cfg.MetricsExpiration.Nanoseconds())
		c.tel.series.Store(int64(s.nseries))
		c.tel.resources.Store(int64(len(s.resources)))
	}
}

// build makes the metrics of a snapshot: per resource, the calls sum and the duration histogram,
// as the spanmetrics connector names them.
func (c *red) build(sn *snapshot, now pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	rms.EnsureCapacity(len(sn.resources))
	nb := len(c.store.bounds) + 1
	for _, rs := range sn.resources {
		rm := rms.AppendEmpty()
		rs.attrs.CopyTo(rm.Resource().Attributes())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("spanmetricsconnector")
		calls := sm.Metrics().AppendEmpty()
		calls.SetName("traces.span.metrics.calls")
		sum := calls.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		sum.DataPoints().EnsureCapacity(rs.to - rs.from)
		dur := sm.Metrics().AppendEmpty()
		dur.SetName("traces.span.metrics.duration")
		dur.SetUnit("ms")
		hist := dur.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		hist.DataPoints().EnsureCapacity(rs.to - rs.from)
		for _, ss := range sn.series[rs.from:rs.to] {
			ex := sn.exemplars[ss.exFrom:ss.exTo]
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(ss.start)
			dp.SetTimestamp(now)
			dp.SetIntValue(ss.calls)
			ss.attrs.CopyTo(dp.Attributes())
			exemplars(dp.Exemplars(), ex, now)

			hp := hist.DataPoints().AppendEmpty()
			hp.SetStartTimestamp(ss.start)
			hp.SetTimestamp(now)
			hp.ExplicitBounds().FromRaw(c.store.bounds)
			hp.BucketCounts().FromRaw(sn.buckets[ss.buckets : ss.buckets+nb])
			hp.SetCount(ss.count)
			hp.SetSum(ss.sum)
			ss.attrs.CopyTo(hp.Attributes())
			exemplars(hp.Exemplars(), ex, now)
		}
	}
	return md
}

func exemplars(dst pmetric.ExemplarSlice, src []exemplar, now pcommon.Timestamp) {
	if len(src) == 0 {
		return
	}
	dst.EnsureCapacity(len(src))
	for _, e := range src {
		x := dst.AppendEmpty()
		x.SetTimestamp(now)
		x.SetTraceID(e.traceID)
		x.SetSpanID(e.spanID)
		x.SetDoubleValue(e.value)
	}
}
