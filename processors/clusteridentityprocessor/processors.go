package clusteridentityprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
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
		for i := 0; i < rl.ScopeLogs().Len(); i++ {
			n += rl.ScopeLogs().At(i).LogRecords().Len()
		}
		return !r.admit(rl.Resource(), n)
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
		return !r.admit(rm.Resource(), dataPoints(rm))
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
		for i := 0; i < rs.ScopeSpans().Len(); i++ {
			n += rs.ScopeSpans().At(i).Spans().Len()
		}
		return !r.admit(rs.Resource(), n)
	})
	if td.ResourceSpans().Len() > 0 {
		err = p.next.ConsumeTraces(ctx, td)
	}
	return r.finish(err)
}

// dataPoints counts the data points of one resource, the unit in which the collector counts metrics.
func dataPoints(rm pmetric.ResourceMetrics) int {
	n := 0
	for i := 0; i < rm.ScopeMetrics().Len(); i++ {
		ms := rm.ScopeMetrics().At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
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
	}
	return n
}
