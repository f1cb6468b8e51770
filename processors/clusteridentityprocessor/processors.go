package clusteridentityprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var mutates = consumer.Capabilities{MutatesData: true}

type logsProcessor struct {
	*enforcer
	next consumer.Logs
}

func (p *logsProcessor) Capabilities() consumer.Capabilities { return mutates }

func (p *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	r, err := p.begin(ctx, "logs", ld.LogRecordCount())
	if err != nil {
		return err
	}
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		n := 0
		for _, sl := range rl.ScopeLogs().All() {
			n += sl.LogRecords().Len()
		}
		if !r.admit(rl.Resource(), n) {
			return true
		}
		return emptied(rl.ScopeLogs().Len(), func() int {
			rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
				if !r.lower(sl.LogRecords().Len(), sl.Scope().Attributes()) {
					return true
				}
				return emptied(sl.LogRecords().Len(), func() int {
					sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool { return !r.lower(1, lr.Attributes()) })
					return sl.LogRecords().Len()
				})
			})
			return rl.ScopeLogs().Len()
		})
	})
	if ld.ResourceLogs().Len() > 0 {
		err = p.next.ConsumeLogs(ctx, ld)
	}
	return r.finish(err)
}

type metricsProcessor struct {
	*enforcer
	next consumer.Metrics
}

func (p *metricsProcessor) Capabilities() consumer.Capabilities { return mutates }

func (p *metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	r, err := p.begin(ctx, "metrics", md.DataPointCount())
	if err != nil {
		return err
	}
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		n := 0
		for _, sm := range rm.ScopeMetrics().All() {
			n += scopeDataPoints(sm)
		}
		if !r.admit(rm.Resource(), n) {
			return true
		}
		return emptied(rm.ScopeMetrics().Len(), func() int {
			rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
				if !r.lower(scopeDataPoints(sm), sm.Scope().Attributes()) {
					return true
				}
				return emptied(sm.Metrics().Len(), func() int {
					sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return r.dataPoints(m) })
					return sm.Metrics().Len()
				})
			})
			return rm.ScopeMetrics().Len()
		})
	})
	if md.ResourceMetrics().Len() > 0 {
		err = p.next.ConsumeMetrics(ctx, md)
	}
	return r.finish(err)
}

type tracesProcessor struct {
	*enforcer
	next consumer.Traces
}

func (p *tracesProcessor) Capabilities() consumer.Capabilities { return mutates }

func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	r, err := p.begin(ctx, "traces", td.SpanCount())
	if err != nil {
		return err
	}
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		n := 0
		for _, ss := range rs.ScopeSpans().All() {
			n += ss.Spans().Len()
		}
		if !r.admit(rs.Resource(), n) {
			return true
		}
		return emptied(rs.ScopeSpans().Len(), func() int {
			rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
				if !r.lower(ss.Spans().Len(), ss.Scope().Attributes()) {
					return true
				}
				return emptied(ss.Spans().Len(), func() int {
					ss.Spans().RemoveIf(func(s ptrace.Span) bool { return !r.span(s) })
					return ss.Spans().Len()
				})
			})
			return rs.ScopeSpans().Len()
		})
	})
	if td.ResourceSpans().Len() > 0 {
		err = p.next.ConsumeTraces(ctx, td)
	}
	return r.finish(err)
}

// emptied runs filter (which returns how many elements are left) and reports whether it removed
// every element of a container that had some: such a container is removed too. Containers that
// arrived empty are passed on as they are.
func emptied(before int, filter func() int) bool {
	return filter() == 0 && before > 0
}

// span applies the policy to a span's attributes and its events' (links describe another span,
// which may belong to another cluster: they are left alone).
func (r *request) span(s ptrace.Span) bool {
	if s.Events().Len() == 0 {
		return r.lower(1, s.Attributes())
	}
	maps := make([]pcommon.Map, 0, 1+s.Events().Len())
	maps = append(maps, s.Attributes())
	for _, ev := range s.Events().All() {
		maps = append(maps, ev.Attributes())
	}
	return r.lower(1, maps...)
}

// dataPoints applies the policy to every data point of m (its attributes and its exemplars'),
// and reports whether it removed them all.
func (r *request) dataPoints(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return r.numbers(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		return r.numbers(m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		return emptied(dps.Len(), func() int {
			dps.RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return !r.point(dp.Attributes(), dp.Exemplars()) })
			return dps.Len()
		})
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		return emptied(dps.Len(), func() int {
			dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool { return !r.point(dp.Attributes(), dp.Exemplars()) })
			return dps.Len()
		})
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		return emptied(dps.Len(), func() int {
			dps.RemoveIf(func(dp pmetric.SummaryDataPoint) bool { return !r.lower(1, dp.Attributes()) })
			return dps.Len()
		})
	case pmetric.MetricTypeEmpty:
	}
	return false
}

func (r *request) numbers(dps pmetric.NumberDataPointSlice) bool {
	return emptied(dps.Len(), func() int {
		dps.RemoveIf(func(dp pmetric.NumberDataPoint) bool { return !r.point(dp.Attributes(), dp.Exemplars()) })
		return dps.Len()
	})
}

func (r *request) point(attrs pcommon.Map, exemplars pmetric.ExemplarSlice) bool {
	if exemplars.Len() == 0 {
		return r.lower(1, attrs)
	}
	maps := make([]pcommon.Map, 0, 1+exemplars.Len())
	maps = append(maps, attrs)
	for _, ex := range exemplars.All() {
		maps = append(maps, ex.FilteredAttributes())
	}
	return r.lower(1, maps...)
}

// scopeDataPoints counts the data points of one scope, the unit in which the collector counts metrics.
func scopeDataPoints(sm pmetric.ScopeMetrics) int {
	n := 0
	for _, m := range sm.Metrics().All() {
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			n += m.Gauge().DataPoints().Len()
		case pmetric.MetricTypeSum:
			n += m.Sum().DataPoints().Len()
		case pmetric.MetricTypeHistogram:
			n += m.Histogram().DataPoints().Len()
		case pmetric.MetricTypeExponentialHistogram:
			n += m.ExponentialHistogram().DataPoints().Len()
		case pmetric.MetricTypeSummary:
			n += m.Summary().DataPoints().Len()
		case pmetric.MetricTypeEmpty:
		}
	}
	return n
}
