package otlprelayreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/internal/otlpwire"
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
	meter    metric.Meter
	received metric.Int64Counter
	rawBytes metric.Int64Counter
	zBytes   metric.Int64Counter
	refused  metric.Int64Counter
	sent     metric.Int64Counter
	failures metric.Int64Counter
	dropped  metric.Int64Counter
	exports  metric.Int64Counter

	reg metric.Registration // of the queue gauges; set and cleared under the relay's lock
}

func newTelemetry(set receiver.Settings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/vigil-obs/vigil/receivers/otlprelayreceiver")
	t := &telemetry{meter: m}
	var err error
	counter := func(dst *metric.Int64Counter, name, desc, unit string) {
		if err == nil {
			*dst, err = m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		}
	}
	counter(&t.received, "vigil_otlprelay_received_items",
		"Items (log records, spans, metric data points) acknowledged to clients, by signal: durable in the queue.", "{items}")
	counter(&t.rawBytes, "vigil_otlprelay_received_bytes",
		"Bytes of the requests acknowledged (protobuf, with the resource attributes set), by signal.", "By")
	counter(&t.zBytes, "vigil_otlprelay_queued_bytes",
		"Bytes the acknowledged requests take in the durable queue, zstd-compressed, by signal.", "By")
	counter(&t.refused, "vigil_otlprelay_refused_requests",
		"Requests refused, by signal and reason (malformed, content_type, queue_full, busy, storage).", "{requests}")
	counter(&t.sent, "vigil_otlprelay_sent_items",
		"Items the gateway accepted, by signal.", "{items}")
	counter(&t.exports, "vigil_otlprelay_exports",
		"Exports sent to the gateway that it accepted, by signal (each holds one or more queued requests).", "{exports}")
	counter(&t.failures, "vigil_otlprelay_export_failures",
		"Exports that failed, by signal and reason (retryable: sent again; permanent: dropped).", "{exports}")
	counter(&t.dropped, "vigil_otlprelay_dropped_items",
		"Items dropped, by signal and reason (permanent: the gateway refused them as invalid; partial: the gateway's partial success rejected them).", "{items}")
	return t, err
}

// observeQueues registers the queue gauges over qs.
func (t *telemetry) observeQueues(qs map[otlpwire.Signal]*fifo.Queue) error {
	requests, err := t.meter.Int64ObservableGauge("vigil_otlprelay_queue_requests",
		metric.WithDescription("Requests in the durable queue not yet accepted by the gateway, by signal."), metric.WithUnit("{requests}"))
	if err != nil {
		return err
	}
	bytes, err := t.meter.Int64ObservableGauge("vigil_otlprelay_queue_bytes",
		metric.WithDescription("Bytes of the requests in the durable queue, by signal."), metric.WithUnit("By"))
	if err != nil {
		return err
	}
	oldest, err := t.meter.Float64ObservableGauge("vigil_otlprelay_oldest_age_seconds",
		metric.WithDescription("Age of the oldest request the gateway has not accepted yet (0 when none), by signal."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	reg, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		for s, q := range qs {
			attrs := signalAttr(s)
			o.ObserveInt64(requests, int64(q.Len()), attrs)
			o.ObserveInt64(bytes, q.Bytes(), attrs)
			age := 0.0
			if added, ok := q.OldestAdded(); ok {
				age = max(0, now.Sub(added).Seconds())
			}
			o.ObserveFloat64(oldest, age, attrs)
		}
		return nil
	}, requests, bytes, oldest)
	if err != nil {
		return err
	}
	t.reg = reg
	return nil
}

func (t *telemetry) unobserve() {
	if t.reg != nil {
		_ = t.reg.Unregister()
		t.reg = nil
	}
}

// signalAttrs are the measurement options of each signal, made once: every request records
// three measurements with them.
var signalAttrs = func() (opts [len(signals)]metric.MeasurementOption) {
	for i, s := range signals {
		opts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", s.String())))
	}
	return opts
}()

func signalAttr(s otlpwire.Signal) metric.MeasurementOption { return signalAttrs[s] }

func reasonAttrs(s otlpwire.Signal, reason string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("signal", s.String()), attribute.String("reason", reason))
}
