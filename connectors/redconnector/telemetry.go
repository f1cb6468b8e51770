package redconnector

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/connectors/redconnector/internal/metadata"
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
	builder   *metadata.TelemetryBuilder
	series    atomic.Int64 // series held
	resources atomic.Int64 // resources held
}

func newTelemetry(set connector.Settings) (*telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	t := &telemetry{received: tb.RedReceivedSpans, discarded: tb.RedDiscardedSpans,
		evicted: tb.RedEvictedResources, builder: tb}
	err = errors.Join(
		tb.RegisterRedSeriesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(t.series.Load())
			return nil
		}),
		tb.RegisterRedResourcesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(t.resources.Load())
			return nil
		}),
	)
	if err != nil {
		tb.Shutdown()
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

func (t *telemetry) shutdown() { t.builder.Shutdown() }
