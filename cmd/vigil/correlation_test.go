package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestOneRequestAcrossSignals: an application handles requests, each a span, and writes a JSON
// log line naming the request's trace in its body only (as a logging library's MDC does; the
// record itself carries no trace ID). Through the all-in-one with every backend set, the three
// signals meet: the line stored in Loki has the span's trace and span IDs as structured metadata,
// and an exemplar of the RED duration histogram in Prometheus names a trace that Jaeger returns,
// with the span that made it.
func TestOneRequestAcrossSignals(t *testing.T) {
	jaeger := testutil.StartJaeger(t)
	prom := testutil.StartPrometheus(t, "nothing")
	loki := testutil.StartLokiWith(t, testutil.LokiOptions{StructuredMetadata: true})
	t.Setenv("VIGIL_TRACES_ENDPOINT", jaeger.OTLPGRPC)
	t.Setenv("VIGIL_TRACES_INSECURE", "true")
	t.Setenv("VIGIL_PROMRW_URL", prom.URL+"/api/v1/write")
	t.Setenv("VIGIL_LOKI_URL", loki.URL)
	a := startAllInOne(t)

	ctx := context.Background()
	tp := tracerProvider(t, "payments", a.grpcAddr)
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(a.httpAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "payments"))),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger("payments")

	spans := map[string]string{} // trace ID -> span ID
	for i := range 4 {
		_, span := tp.Tracer("payments").Start(ctx, "POST /pay", trace.WithSpanKind(trace.SpanKindServer))
		sc := span.SpanContext()
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityWarn)
		rec.SetBody(attribute.StringValue(fmt.Sprintf(`{"level":"warn","msg":"card declined","order":%d,"trace_id":%q,"span_id":%q}`,
			i, sc.TraceID().String(), sc.SpanID().String())))
		logger.Emit(context.Background(), rec) // not the span's context: the record has no trace ID of its own
		time.Sleep(3 * time.Millisecond)
		span.End()
		spans[sc.TraceID().String()] = sc.SpanID().String()
	}
	require.NoError(t, tp.Shutdown(ctx))
	require.NoError(t, lp.Shutdown(ctx))

	// Logs → traces: each line carries its span's IDs as structured metadata.
	for traceID, spanID := range spans {
		testutil.Eventually(t, 60*time.Second, func() error {
			got, err := lokiStreams(loki.URL, `{service_name="payments"} | trace_id="`+traceID+`" | span_id="`+spanID+`"`)
			if err != nil {
				return err
			}
			if n := entries(got); n != 1 {
				return fmt.Errorf("trace %s: %d lines in Loki, want 1", traceID, n)
			}
			return nil
		})
	}

	// Metrics → traces: an exemplar names one of the traces, and Jaeger returns that trace.
	var exemplars []string
	testutil.Eventually(t, 90*time.Second, func() error {
		var err error
		exemplars, err = exemplarTraceIDs(prom, `{__name__=~"traces_span_metrics_duration.*_bucket", job="payments"}`)
		if err != nil {
			return err
		}
		if len(exemplars) == 0 {
			return fmt.Errorf("no exemplars yet")
		}
		return nil
	})
	for _, id := range exemplars {
		require.Contains(t, spans, id, "the exemplar names a trace the application made")
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		td, found, err := jaeger.Trace(exemplars[0])
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("trace %s not in Jaeger yet", exemplars[0])
		}
		span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		if span.Name() != "POST /pay" || span.SpanID().String() != spans[exemplars[0]] {
			return fmt.Errorf("jaeger's span of %s is %q %s", exemplars[0], span.Name(), span.SpanID())
		}
		return nil
	})
}

// exemplarTraceIDs returns the trace_id of every exemplar Prometheus holds for the series that
// match selector over the last ten minutes.
func exemplarTraceIDs(p *testutil.Prometheus, selector string) ([]string, error) {
	params := url.Values{"query": {selector},
		"start": {strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)}}
	resp, err := http.Get(p.URL + "/api/v1/query_exemplars?" + params.Encode()) //nolint:noctx // test
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	var ids []string
	for _, series := range body.Data {
		for _, e := range series.Exemplars {
			ids = append(ids, e.Labels[exemplarTraceLabel])
		}
	}
	return ids, nil
}
