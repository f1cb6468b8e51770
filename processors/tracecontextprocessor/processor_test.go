package tracecontextprocessor

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const (
	trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	span  = "00f067aa0ba902b7"
)

// shape is a log record as a real producer sends it, and the trace context it carries.
type shape struct {
	name        string
	body        any               // string or map[string]any
	attrs       map[string]any    // record attributes
	trace, span string            // expected ("" for none)
	invalid     map[string]string // field -> source of values counted invalid
}

var shapes = []shape{
	{name: "Spring Boot 3 (Micrometer Tracing, logstash-logback-encoder)",
		body: `{"@timestamp":"2026-12-07T02:50:01.123+00:00","@version":"1","message":"Fetching order 42","logger_name":"com.example.OrderService",` +
			`"thread_name":"http-nio-8080-exec-1","level":"INFO","level_value":20000,"traceId":"` + trace + `","spanId":"` + span + `"}`,
		trace: trace, span: span},
	{name: "Go zap with trace fields",
		body:  `{"level":"info","ts":1733539801.12,"caller":"api/handler.go:42","msg":"request served","trace_id":"` + trace + `","span_id":"` + span + `"}`,
		trace: trace, span: span},
	{name: "Serilog compact JSON (CLEF)",
		body:  `{"@t":"2026-12-07T02:50:01.1234567Z","@mt":"Processed {OrderId}","OrderId":42,"@tr":"` + trace + `","@sp":"` + span + `"}`,
		trace: trace, span: span},
	{name: "Elastic Common Schema, dotted keys",
		body:  `{"@timestamp":"2026-12-07T02:50:01.123Z","log.level":"info","message":"paid","trace.id":"` + trace + `","span.id":"` + span + `","ecs.version":"1.6.0"}`,
		trace: trace, span: span},
	{name: "Elastic Common Schema, nested objects",
		body:  `{"@timestamp":"2026-12-07T02:50:01.123Z","message":"paid","trace":{"id":"` + trace + `"},"span":{"id":"` + span + `"}}`,
		trace: trace, span: span},
	{name: "Grafana Tempo/Loki go-kit logfmt, 64-bit trace ID",
		body:  `level=info ts=2026-12-07T02:50:01.123Z caller=handler.go:42 traceID=a3ce929d0e0e4736 msg="GET /api/traces"`,
		trace: "0000000000000000a3ce929d0e0e4736"},
	{name: "Python opentelemetry-instrumentation-logging default format",
		body: `2026-12-07 02:50:01,123 INFO [checkout] [app.py:10] [trace_id=` + trace + ` span_id=` + span +
			` resource.service.name=checkout trace_sampled=True] - charging card`,
		trace: trace, span: span},
	{name: "logfmt with a quoted traceparent",
		body:  `level=warn msg="upstream slow" traceparent="00-` + trace + `-` + span + `-01" duration=1.2s`,
		trace: trace, span: span},
	{name: "captured HTTP header attribute (semantic conventions: a string array)",
		body:  "GET /checkout 200",
		attrs: map[string]any{"http.request.header.traceparent": []any{"00-" + trace + "-" + span + "-01"}},
		trace: trace, span: span},
	{name: "map body from a structured logger",
		body:  map[string]any{"msg": "paid", "trace_id": strings.ToUpper(trace), "span_id": span},
		trace: trace, span: span},
	{name: "attributes win over the body",
		body:  `{"trace_id":"11111111111111111111111111111111"}`,
		attrs: map[string]any{"trace_id": trace},
		trace: trace},
	{name: "plain text without trace context", body: "connection reset by peer"},
	{name: "a word that only contains the key", body: `{"x_trace_id":"` + trace + `"}`},
	{name: "Datadog's decimal 64-bit ID is not hex",
		body:    `{"message":"x","dd.trace_id":"1234567890123456789","trace_id":"1234567890123456789"}`,
		invalid: map[string]string{"trace_id": "body"}},
	{name: "all-zero trace ID", body: `{"trace_id":"00000000000000000000000000000000"}`,
		invalid: map[string]string{"trace_id": "body"}},
	{name: "traceparent version ff, then a valid trace_id",
		body:    `{"traceparent":"ff-` + trace + `-` + span + `-01","trace_id":"` + trace + `"}`,
		trace:   trace,
		invalid: map[string]string{"traceparent": "body"}},
	{name: "upper-case traceparent is not W3C", body: `traceparent=00-` + strings.ToUpper(trace) + `-` + span + `-01`,
		invalid: map[string]string{"traceparent": "body"}},
	{name: "valid trace, invalid span", body: `{"trace_id":"` + trace + `","span_id":"xyz"}`, trace: trace,
		invalid: map[string]string{"span_id": "body"}},
	{name: "broken JSON", body: `{"trace_id":"` + trace + `"`, trace: trace},
}

func TestRealShapes(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
			sink := &consumertest.LogsSink{}
			p := start(t, createDefaultConfig(), tel, sink)
			require.NoError(t, p.ConsumeLogs(context.Background(), record(t, s)))
			lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			if s.trace == "" {
				require.True(t, lr.TraceID().IsEmpty(), "trace %s", lr.TraceID())
			} else {
				require.Equal(t, s.trace, lr.TraceID().String())
			}
			if s.span == "" {
				require.True(t, lr.SpanID().IsEmpty(), "span %s", lr.SpanID())
			} else {
				require.Equal(t, s.span, lr.SpanID().String())
			}
			require.Equal(t, len(s.invalid), countOf(t, tel, "vigil_tracecontext_invalid_values"), "invalid values counted")
			want := 0
			if s.trace != "" {
				want = 1
			}
			require.Equal(t, want, countOf(t, tel, "vigil_tracecontext_filled_records"))
		})
	}
}

// A record that has its trace context keeps it, whatever its body says.
func TestRecordsWithTraceContextAreLeftAlone(t *testing.T) {
	sink := &consumertest.LogsSink{}
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	p := start(t, createDefaultConfig(), tel, sink)
	ld := record(t, shape{body: `{"trace_id":"` + trace + `","span_id":"` + span + `"}`})
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	own := pcommon.TraceID{1, 2, 3}
	lr.SetTraceID(own)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	got := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	require.Equal(t, own, got.TraceID())
	require.True(t, got.SpanID().IsEmpty())
}

// Only max_body_bytes of a body are read; configured keys replace the defaults.
func TestConfiguredKeysAndBodyBound(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.TraceIDKeys, cfg.SpanIDKeys, cfg.TraceparentKeys = []string{"x-b3-traceid"}, []string{"x-b3-spanid"}, nil
	cfg.MaxBodyBytes = 64
	require.NoError(t, cfg.Validate())
	sink := &consumertest.LogsSink{}
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	p := start(t, cfg, tel, sink)
	near := record(t, shape{body: `{"x-b3-traceid":"` + trace + `","trace_id":"11111111111111111111111111111111"}`})
	far := record(t, shape{body: `{"msg":"` + strings.Repeat("a", 64) + `","x-b3-traceid":"` + trace + `"}`})
	require.NoError(t, p.ConsumeLogs(context.Background(), near))
	require.NoError(t, p.ConsumeLogs(context.Background(), far))
	require.Equal(t, trace, sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).TraceID().String())
	require.True(t, sink.AllLogs()[1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).TraceID().IsEmpty())

	cfg = createDefaultConfig()
	cfg.TraceIDKeys, cfg.TraceparentKeys, cfg.MaxBodyBytes = nil, []string{""}, 0
	err := cfg.Validate()
	require.ErrorContains(t, err, "traceparent_keys: an empty key")
	require.ErrorContains(t, err, "max_body_bytes: 0 must be positive")
}

func FuzzBodies(f *testing.F) {
	for _, s := range shapes {
		if b, ok := s.body.(string); ok {
			f.Add(b)
		}
	}
	k := newKeys(createDefaultConfig())
	f.Fuzz(func(t *testing.T, body string) {
		fd := k.fromText([]byte(body))
		if fd.hasTraceID {
			_, _ = parseTraceID(fd.traceID)
		}
		if fd.hasTraceparent {
			_, _, _ = parseTraceparent(fd.traceparent)
		}
	})
}

func start(t *testing.T, cfg *Config, tel *componenttest.Telemetry, next *consumertest.LogsSink) interface {
	ConsumeLogs(context.Context, plog.Logs) error
} {
	t.Helper()
	set := processortest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

func record(t *testing.T, s shape) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	switch b := s.body.(type) {
	case string:
		lr.Body().SetStr(b)
	case map[string]any:
		require.NoError(t, lr.Body().SetEmptyMap().FromRaw(b))
	}
	require.NoError(t, lr.Attributes().FromRaw(s.attrs))
	return ld
}

// countOf sums a counter's data points.
func countOf(t *testing.T, tel *componenttest.Telemetry, name string) int {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	n := 0
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += int(dp.Value)
	}
	return n
}
