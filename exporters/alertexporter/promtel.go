package alertexporter

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/exporters/alertexporter/internal/metadata"
)

// promMetrics are the metrics of Prometheus's notifier and rule manager that vigil exports under
// its own name (metadata.yaml): how the alert core reports its own failures (notifications that
// fail or are dropped, a full queue, rule evaluations that fail or fall behind). Each maps the
// Prometheus name to the registration of the callback of vigil's instrument.
func promMetrics(tb *metadata.TelemetryBuilder) map[string]func(metric.Float64Callback) error {
	return map[string]func(metric.Float64Callback) error{
		"prometheus_notifications_sent_total":               tb.RegisterAlertNotificationsSentCallback,
		"prometheus_notifications_errors_total":             tb.RegisterAlertNotificationErrorsCallback,
		"prometheus_notifications_dropped_total":            tb.RegisterAlertNotificationsDroppedCallback,
		"prometheus_notifications_queue_length":             tb.RegisterAlertNotificationQueueLengthCallback,
		"prometheus_notifications_queue_capacity":           tb.RegisterAlertNotificationQueueCapacityCallback,
		"prometheus_notifications_alertmanagers_discovered": tb.RegisterAlertAlertmanagersCallback,
		"prometheus_rule_evaluation_failures_total":         tb.RegisterAlertRuleEvaluationFailuresCallback,
		"prometheus_rule_group_iterations_missed_total":     tb.RegisterAlertRuleGroupIterationsMissedCallback,
	}
}

// observePromMetrics registers callbacks that report, at each collection, the promMetrics
// gathered from reg (the registry given to the notifier and the rule manager).
func observePromMetrics(tb *metadata.TelemetryBuilder, reg prometheus.Gatherer) error {
	var errs []error
	for prom, register := range promMetrics(tb) {
		errs = append(errs, register(gathered(reg, prom)))
	}
	return errors.Join(errs...)
}

// gathered observes the series of the metric family name of reg, with their labels.
func gathered(reg prometheus.Gatherer, name string) metric.Float64Callback {
	return func(_ context.Context, o metric.Float64Observer) error {
		families, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				attrs := make([]attribute.KeyValue, 0, len(m.GetLabel()))
				for _, l := range m.GetLabel() {
					attrs = append(attrs, attribute.String(l.GetName(), l.GetValue()))
				}
				v := m.GetGauge().GetValue()
				if m.GetCounter() != nil {
					v = m.GetCounter().GetValue()
				}
				o.Observe(v, metric.WithAttributes(attrs...))
			}
		}
		return nil
	}
}
