package servicemapconnector

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons a span is not counted in any edge: the bounded list of vigil_servicemap_discarded_spans_total.
const (
	reasonInvalidID = iota // an all-zero trace ID or span ID
	reasonExpired          // waited `wait` without its pair, and no peer attribute names a virtual node
	reasonEvicted          // max_pending_edges reached: the oldest waiting span gave up its place
	reasonMaxEdges         // its request is on a new edge beyond max_edges
	reasonDuplicate        // replaced by a later span of the same side of the same waiting request
	numReasons
)

var reasonNames = [numReasons]string{"invalid_id", "expired", "evicted", "max_edges", "duplicate"}

var reasonAttrs = func() (opts [numReasons]metric.AddOption) {
	for i, r := range reasonNames {
		opts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	return opts
}()

// telemetry is the connector's own metrics.
type telemetry struct {
	discarded metric.Int64Counter
	reg       metric.Registration
	pending   atomic.Int64 // requests waiting for their other side
	edges     atomic.Int64 // distinct edges held
}

func newTelemetry(set connector.Settings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{}
	var err error
	t.discarded, err = m.Int64Counter("vigil_servicemap_discarded_spans",
		metric.WithDescription("Client and server spans not counted in any edge, by reason (invalid_id, expired, evicted, max_edges, duplicate)."),
		metric.WithUnit("{spans}"))
	if err != nil {
		return nil, err
	}
	pending, err := m.Int64ObservableGauge("vigil_servicemap_pending_edges",
		metric.WithDescription("Requests of which one span arrived and the other is awaited (at most max_pending_edges)."),
		metric.WithUnit("{edges}"))
	if err != nil {
		return nil, err
	}
	edges, err := m.Int64ObservableGauge("vigil_servicemap_edges",
		metric.WithDescription("Distinct edges (client, server, their clusters, connection type) held and exported (at most max_edges)."),
		metric.WithUnit("{edges}"))
	if err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(pending, t.pending.Load())
		o.ObserveInt64(edges, t.edges.Load())
		return nil
	}, pending, edges)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// count adds the discards of one batch.
func (t *telemetry) count(ctx context.Context, d *[numReasons]int64) {
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
