package servicemapconnector

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/connectors/servicemapconnector/internal/metadata"
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
	builder   *metadata.TelemetryBuilder
	pending   atomic.Int64 // requests waiting for their other side
	edges     atomic.Int64 // distinct edges held
}

func newTelemetry(set connector.Settings) (*telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	t := &telemetry{discarded: tb.ServicemapDiscardedSpans, builder: tb}
	err = errors.Join(
		tb.RegisterServicemapPendingEdgesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(t.pending.Load())
			return nil
		}),
		tb.RegisterServicemapEdgesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(t.edges.Load())
			return nil
		}),
	)
	if err != nil {
		tb.Shutdown()
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

func (t *telemetry) shutdown() { t.builder.Shutdown() }
