package alertexporter

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/exporters/alertexporter/internal/metadata"
	"github.com/vigil-obs/vigil/storage/series"
)

// telemetry are the exporter's own metrics (see README and documentation.md).
type telemetry struct {
	appended    metric.Int64Counter
	discarded   metric.Int64Counter
	evaluations metric.Int64Counter
	evalSeconds metric.Float64Histogram
	reloads     metric.Int64Counter
	overrides   metric.Int64Counter
	builder     *metadata.TelemetryBuilder // holds the callbacks of the observable ones
}

// newTelemetry creates the exporter's metrics; prom is the registry of the notifier and the rule
// manager, whose metrics of failures are exported too (observePromMetrics).
func newTelemetry(set component.TelemetrySettings, store *series.Store, prom prometheus.Gatherer, skipped func() int) (*telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	t := &telemetry{appended: tb.AlertSamplesAppended, discarded: tb.AlertSamplesDiscarded,
		evaluations: tb.AlertGroupEvaluations, evalSeconds: tb.AlertGroupEvaluationDurationSeconds,
		reloads: tb.AlertRuleReloads, overrides: tb.AlertIdentityOverridesIgnored, builder: tb}
	err = errors.Join(
		tb.RegisterAlertSeriesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(store.Stats().Series))
			return nil
		}),
		tb.RegisterAlertRuleGroupsSkippedCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(skipped()))
			return nil
		}),
		observePromMetrics(tb, prom),
	)
	if err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *telemetry) record(ctx context.Context, appended, overridden int, discarded map[string]int) {
	if appended > 0 {
		t.appended.Add(ctx, int64(appended))
	}
	if overridden > 0 {
		t.overrides.Add(ctx, int64(overridden))
	}
	for reason, n := range discarded {
		if n > 0 {
			t.discarded.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
		}
	}
}

func (t *telemetry) evaluated(ctx context.Context, group string, d time.Duration) {
	attrs := metric.WithAttributes(attribute.String("rule_group", group))
	t.evaluations.Add(ctx, 1, attrs)
	t.evalSeconds.Record(ctx, d.Seconds(), attrs)
}

func (t *telemetry) reloaded(ctx context.Context, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	t.reloads.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}

func (t *telemetry) close() { t.builder.Shutdown() }
