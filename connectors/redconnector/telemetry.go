package redconnector

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons a span is not counted in a series of its own: the bounded list of
// vigil_red_discarded_spans_total.
const (
	reasonNoServiceName = iota // its resource has no service.name: not counted at all
	reasonMaxSeries            // its series would be new beyond max_series: counted in the overflow series
	numReasons
)

var reasonNames = [numReasons]string{"no_service_name", "max_series"}

var reasonAttrs = func() (opts [numReasons]metric.AddOption) {
	for i, r := range reasonNames {
		opts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	return opts
}()

// telemetry is the connector's own metrics.
type telemetry struct {
	received  metric.Int64Counter
	discarded metric.Int64Counter
	evicted   metric.Int64Counter
	reg       metric.Registration
	series    atomic.Int64 // series held
	resources atomic.Int64 // resources held
}

func newTelemetry(set connector.Settings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{}
	var err error
	if t.received, err = m.Int64Counter("vigil_red_received_spans",
		metric.WithDescription("Spans received by the red connector."),
		metric.WithUnit("{spans}")); err != nil {
		return nil, err
	}
	if t.discarded, err = m.Int64Counter("vigil_red_discarded_spans",
		metric.WithDescription("Spans not counted in a series of their own, by reason (no_service_name: not counted; max_series: counted in their resource's overflow series)."),
		metric.WithUnit("{spans}")); err != nil {
		return nil, err
	}
	if t.evicted, err = m.Int64Counter("vigil_red_evicted_resources",
		metric.WithDescription("Resources forgotten (after a last flush) to make room for a new one at max_resources."),
		metric.WithUnit("{resources}")); err != nil {
		return nil, err
	}
	series, err := m.Int64ObservableGauge("vigil_red_series",
		metric.WithDescription("RED series held and sent at each flush (at most max_series, plus one overflow series per resource)."),
		metric.WithUnit("{series}"))
	if err != nil {
		return nil, err
	}
	resources, err := m.Int64ObservableGauge("vigil_red_resources",
		metric.WithDescription("Resources held (at most max_resources)."),
		metric.WithUnit("{resources}"))
	if err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(series, t.series.Load())
		o.ObserveInt64(resources, t.resources.Load())
		return nil
	}, series, resources)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// count adds the figures of one batch.
func (t *telemetry) count(ctx context.Context, received, evicted int64, d *[numReasons]int64) {
	if received > 0 {
		t.received.Add(ctx, received)
	}
	if evicted > 0 {
		t.evicted.Add(ctx, evicted)
	}
	for r, n := range d {
		if n > 0 {
			t.discarded.Add(ctx, n, reasonAttrs[r])
		}
	}
}

func (t *telemetry) shutdown() {
	if t.reg != nil {
		_ = t.reg.Unregister()
	}
}
