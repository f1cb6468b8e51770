package otlprelayreceiver

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/receivers/otlprelayreceiver/internal/metadata"
	"github.com/vigil-obs/vigil/storage/fifo"
)

// Reasons a request is refused (vigil_otlprelay_refused_requests_total{reason}).
const (
	reasonMalformed = "malformed"    // not an OTLP request the gateway would accept (400)
	reasonQueueFull = "queue_full"   // the durable queue is at its max_bytes (429)
	reasonStorage   = "storage"      // the durable queue could not take it (503)
	reasonMedia     = "content_type" // neither application/x-protobuf nor application/json (415)
	reasonBusy      = "busy"         // over max_inflight_bytes of requests in progress (429)
)

// Reasons an export fails (vigil_otlprelay_export_failures_total{reason}).
const (
	failRetryable = "retryable" // sent again after a backoff
	failPermanent = "permanent" // the gateway refused the data itself (INVALID_ARGUMENT, PERMISSION_DENIED): dropped
)

// telemetry is the relay's own metrics.
type telemetry struct {
	builder  *metadata.TelemetryBuilder
	received metric.Int64Counter
	rawBytes metric.Int64Counter
	zBytes   metric.Int64Counter
	refused  metric.Int64Counter
	sent     metric.Int64Counter
	failures metric.Int64Counter
	dropped  metric.Int64Counter
	exports  metric.Int64Counter
	lookups  metric.Int64Counter // pod associations, by result (pod_metadata)
}

func newTelemetry(set receiver.Settings) (*telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &telemetry{builder: tb,
		received: tb.OtlprelayReceivedItems,
		rawBytes: tb.OtlprelayReceivedBytes,
		zBytes:   tb.OtlprelayQueuedBytes,
		refused:  tb.OtlprelayRefusedRequests,
		sent:     tb.OtlprelaySentItems,
		exports:  tb.OtlprelayExports,
		failures: tb.OtlprelayExportFailures,
		dropped:  tb.OtlprelayDroppedItems,
		lookups:  tb.OtlprelayPodLookups,
	}, nil
}

// observeQueues registers the queue gauges over qs.
func (t *telemetry) observeQueues(qs map[otlpwire.Signal]*fifo.Queue) error {
	err := errors.Join(
		t.builder.RegisterOtlprelayQueueRequestsCallback(func(_ context.Context, o metric.Int64Observer) error {
			for s, q := range qs {
				o.Observe(int64(q.Len()), signalObs(s))
			}
			return nil
		}),
		t.builder.RegisterOtlprelayQueueBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
			for s, q := range qs {
				o.Observe(q.Bytes(), signalObs(s))
			}
			return nil
		}),
		t.builder.RegisterOtlprelayOldestAgeSecondsCallback(func(_ context.Context, o metric.Float64Observer) error {
			now := time.Now()
			for s, q := range qs {
				age := 0.0
				if added, ok := q.OldestAdded(); ok {
					age = max(0, now.Sub(added).Seconds())
				}
				o.Observe(age, signalObs(s))
			}
			return nil
		}),
	)
	if err != nil {
		t.builder.Shutdown()
	}
	return err
}

// unobserve unregisters the queue gauges' callbacks.
func (t *telemetry) unobserve() { t.builder.Shutdown() }

// signalAttrs are the measurement options of each signal, made once: every request records
// three measurements with them.
var signalAttrs = func() (opts [len(signals)]metric.MeasurementOption) {
	for i, s := range signals {
		opts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", s.String())))
	}
	return opts
}()

func signalAttr(s otlpwire.Signal) metric.MeasurementOption { return signalAttrs[s] }

// signalObsAttrs are the observation options of each signal (the queue gauges).
var signalObsAttrs = func() (opts [len(signals)]metric.ObserveOption) {
	for i, s := range signals {
		opts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", s.String())))
	}
	return opts
}()

func signalObs(s otlpwire.Signal) metric.ObserveOption { return signalObsAttrs[s] }

func reasonAttrs(s otlpwire.Signal, reason string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("signal", s.String()), attribute.String("reason", reason))
}
