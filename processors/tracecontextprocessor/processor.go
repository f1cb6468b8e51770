package tracecontextprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/processors/tracecontextprocessor/internal/metadata"
)

// Type is the component type of the processor in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the tracecontext processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newFiller(set.TelemetrySettings, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}

// filler fills the trace context of log records from their attributes and bodies.
type filler struct {
	keys         keys
	body         bool
	maxBodyBytes int
	filled       metric.Int64Counter
	invalid      metric.Int64Counter
}

func newFiller(set component.TelemetrySettings, cfg *Config) (*filler, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	return &filler{keys: newKeys(cfg), body: cfg.Body, maxBodyBytes: cfg.MaxBodyBytes,
		filled: tb.TracecontextFilledRecords, invalid: tb.TracecontextInvalidValues}, nil
}

func (p *filler) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				p.fill(ctx, lr)
			}
		}
	}
	return ld, nil
}

// fill sets lr's TraceID (and SpanID, when empty) from the first place that has a valid one:
// its attributes, then its body.
func (p *filler) fill(ctx context.Context, lr plog.LogRecord) {
	if !lr.TraceID().IsEmpty() {
		return
	}
	if f := p.keys.fromMap(lr.Attributes()); f.any() && p.apply(ctx, lr, f, "attributes") {
		return
	}
	if !p.body {
		return
	}
	var f found
	switch b := lr.Body(); b.Type() {
	case pcommon.ValueTypeMap:
		f = p.keys.fromMap(b.Map())
	case pcommon.ValueTypeStr:
		text := b.Str()
		if len(text) > p.maxBodyBytes {
			text = text[:p.maxBodyBytes]
		}
		f = p.keys.fromText([]byte(text))
	case pcommon.ValueTypeBytes:
		text := b.Bytes().AsRaw()
		if len(text) > p.maxBodyBytes {
			text = text[:p.maxBodyBytes]
		}
		f = p.keys.fromText(text)
	}
	if f.any() {
		p.apply(ctx, lr, f, "body")
	}
}

// apply sets the trace context f holds, counting what is invalid; false when it holds no valid
// trace ID.
func (p *filler) apply(ctx context.Context, lr plog.LogRecord, f found, where string) bool {
	if f.hasTraceparent {
		if tid, sid, ok := parseTraceparent(f.traceparent); ok {
			lr.SetTraceID(tid)
			if lr.SpanID().IsEmpty() {
				lr.SetSpanID(sid)
			}
			p.count(ctx, p.filled, where, "")
			return true
		}
		p.count(ctx, p.invalid, where, "traceparent")
	}
	if !f.hasTraceID {
		return false
	}
	tid, ok := parseTraceID(f.traceID)
	if !ok {
		p.count(ctx, p.invalid, where, "trace_id")
		return false
	}
	lr.SetTraceID(tid)
	if f.hasSpanID && lr.SpanID().IsEmpty() {
		if sid, ok := parseSpanID(f.spanID); ok {
			lr.SetSpanID(sid)
		} else {
			p.count(ctx, p.invalid, where, "span_id")
		}
	}
	p.count(ctx, p.filled, where, "")
	return true
}

func (p *filler) count(ctx context.Context, c metric.Int64Counter, where, field string) {
	attrs := []attribute.KeyValue{attribute.String("source", where)}
	if field != "" {
		attrs = append(attrs, attribute.String("field", field))
	}
	c.Add(ctx, 1, metric.WithAttributes(attrs...))
}
