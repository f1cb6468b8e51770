package alertexporter

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// promMetric is one of the metrics of Prometheus's notifier and rule manager that vigil exports
// under its own name: how the alert core reports its own failures (notifications that fail or
// are dropped, a full queue, rule evaluations that fail or fall behind).
type promMetric struct {
	prom, name, description, unit string
	counter                       bool
}

var promMetrics = []promMetric{
	{"prometheus_notifications_sent_total", "vigil_alert_notifications_sent", "Alerts sent to each Alertmanager (Prometheus's notifier).", "{alerts}", true},
	{"prometheus_notifications_errors_total", "vigil_alert_notification_errors", "Alerts whose sending to an Alertmanager failed (they are retried until dropped).", "{alerts}", true},
	{"prometheus_notifications_dropped_total", "vigil_alert_notifications_dropped", "Alerts dropped: every Alertmanager failed, or the queue was full.", "{alerts}", true},
	{"prometheus_notifications_queue_length", "vigil_alert_notification_queue_length", "Alerts waiting to be sent.", "{alerts}", false},
	{"prometheus_notifications_queue_capacity", "vigil_alert_notification_queue_capacity", "Capacity of the queue of alerts to send.", "{alerts}", false},
	{"prometheus_notifications_alertmanagers_discovered", "vigil_alert_alertmanagers", "Alertmanagers the notifier sends to.", "{alertmanagers}", false},
	{"prometheus_rule_evaluation_failures_total", "vigil_alert_rule_evaluation_failures", "Rule evaluations that failed, by rule group.", "{evaluations}", true},
	{"prometheus_rule_group_iterations_missed_total", "vigil_alert_rule_group_iterations_missed", "Rule group evaluations missed because the previous one took too long, by rule group.", "{evaluations}", true},
}

// observePromMetrics registers observable instruments that report, at each collection, the
// promMetrics gathered from reg (the registry given to the notifier and the rule manager).
func observePromMetrics(meter metric.Meter, reg prometheus.Gatherer) (metric.Registration, error) {
	instruments := make(map[string]metric.Float64Observable, len(promMetrics))
	var all []metric.Observable
	var errs []error
	for _, m := range promMetrics {
		var inst metric.Float64Observable
		var err error
		if m.counter {
			inst, err = meter.Float64ObservableCounter(m.name, metric.WithDescription(m.description), metric.WithUnit(m.unit))
		} else {
			inst, err = meter.Float64ObservableGauge(m.name, metric.WithDescription(m.description), metric.WithUnit(m.unit))
		}
		errs = append(errs, err)
		instruments[m.prom] = inst
		all = append(all, inst)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		families, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, f := range families {
			inst, ok := instruments[f.GetName()]
			if !ok {
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
				o.ObserveFloat64(inst, v, metric.WithAttributes(attrs...))
			}
		}
		return nil
	}, all...)
}
