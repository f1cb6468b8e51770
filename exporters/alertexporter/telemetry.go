package alertexporter

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/storage/series"
)

// telemetry are the exporter's own metrics (see README).
type telemetry struct {
	appended    metric.Int64Counter
	discarded   metric.Int64Counter
	evaluations metric.Int64Counter
	evalSeconds metric.Float64Histogram
	reloads     metric.Int64Counter
	overrides   metric.Int64Counter
	reg         metric.Registration
	promReg     metric.Registration // of the notifier's and rule manager's metrics (promtel.go)
}

// newTelemetry creates the exporter's metrics; prom is the registry of the notifier and the rule
// manager, whose metrics of failures are exported too (observePromMetrics).
func newTelemetry(set component.TelemetrySettings, store *series.Store, prom prometheus.Gatherer, skipped func() int) (*telemetry, error) {
	meter := set.MeterProvider.Meter("github.com/vigil-obs/vigil/exporters/alertexporter")
	t := &telemetry{}
	var errs [9]error
	t.appended, errs[0] = meter.Int64Counter("vigil_alert_samples_appended",
		metric.WithDescription("Samples kept in the series store for rule evaluation."), metric.WithUnit("{samples}"))
	t.discarded, errs[1] = meter.Int64Counter("vigil_alert_samples_discarded",
		metric.WithDescription("Samples not kept, by reason (not_needed, series_limit, out_of_order, duplicate, delta_temporality, unsupported_type, invalid_name)."),
		metric.WithUnit("{samples}"))
	t.evaluations, errs[2] = meter.Int64Counter("vigil_alert_group_evaluations",
		metric.WithDescription("Evaluations of rule groups."), metric.WithUnit("{evaluations}"))
	t.evalSeconds, errs[3] = meter.Float64Histogram("vigil_alert_group_evaluation_duration_seconds",
		metric.WithDescription("Duration of one evaluation of a rule group."), metric.WithUnit("s"))
	t.reloads, errs[6] = meter.Int64Counter("vigil_alert_rule_reloads",
		metric.WithDescription("Reloads of changed rule files, by result (success, failure)."), metric.WithUnit("{reloads}"))
	t.overrides, errs[7] = meter.Int64Counter("vigil_alert_identity_overrides_ignored",
		metric.WithDescription("Samples built without a data point attribute that named a label of the resource (job, instance, a promoted resource attribute such as k8s_cluster_name): the resource's value is kept."),
		metric.WithUnit("{samples}"))
	series, err := meter.Int64ObservableGauge("vigil_alert_series",
		metric.WithDescription("Series held in the series store."), metric.WithUnit("{series}"))
	errs[4] = err
	skippedGauge, err := meter.Int64ObservableGauge("vigil_alert_rule_groups_skipped",
		metric.WithDescription("Rule groups not evaluated as written because of problems (a file or pattern that loads nothing counts as one); see the log and /api/v1/rules."),
		metric.WithUnit("{groups}"))
	errs[8] = err
	if errors.Join(errs[4], errs[8]) == nil {
		t.reg, errs[5] = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(series, int64(store.Stats().Series))
			o.ObserveInt64(skippedGauge, int64(skipped()))
			return nil
		}, series, skippedGauge)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if t.promReg, err = observePromMetrics(meter, prom); err != nil {
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

func (t *telemetry) close() {
	for _, r := range []metric.Registration{t.reg, t.promReg} {
		if r != nil {
			_ = r.Unregister()
		}
	}
}
