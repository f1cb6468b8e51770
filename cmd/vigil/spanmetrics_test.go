package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestSpanMetricsReachPrometheusWithExemplars: spans sent to the all-in-one become RED metrics
// (the red connector, with the spanmetrics connector's names) that a real Prometheus receives through remote write with the
// identity labels — calls by status code, a duration histogram — and whose exemplars name the
// trace IDs of the spans they came from.
func TestSpanMetricsReachPrometheusWithExemplars(t *testing.T) {
	sink := testutil.StartPrometheus(t, "nothing") // remote-write receiver with exemplar storage
	t.Setenv("VIGIL_PROMRW_URL", sink.URL+"/api/v1/write")
	a := startAllInOne(t)

	tp := tracerProvider(t, "checkout", a.grpcAddr)
	tracer := tp.Tracer("checkout")
	traces := map[string]bool{}
	for i := range 6 {
		ctx, root := tracer.Start(context.Background(), "GET /checkout", trace.WithSpanKind(trace.SpanKindServer))
		_, charge := tracer.Start(ctx, "charge card", trace.WithSpanKind(trace.SpanKindClient))
		if i%3 == 0 {
			charge.SetStatus(codes.Error, "card declined")
		}
		time.Sleep(2 * time.Millisecond)
		charge.End()
		root.End()
		traces[root.SpanContext().TraceID().String()] = true
	}
	require.NoError(t, tp.Shutdown(context.Background()))

	testutil.Eventually(t, 90*time.Second, func() error {
		v, err := sink.Query(`sum(traces_span_metrics_calls_total{job="checkout", cluster="local", span_name="GET /checkout"})`)
		if err != nil {
			return err
		}
		if v != 6 {
			return fmt.Errorf("%v calls of GET /checkout, want 6", v)
		}
		return nil
	})
	errorsCount, err := sink.Query(`sum(traces_span_metrics_calls_total{job="checkout", span_name="charge card", status_code="STATUS_CODE_ERROR"})`)
	require.NoError(t, err)
	require.Equal(t, 2.0, errorsCount, "errors are the calls with an error status")

	// Exemplars of the duration histogram name the spans' traces.
	var found []string
	testutil.Eventually(t, 30*time.Second, func() error {
		var err error
		if found, err = exemplarTraceIDs(sink, `{__name__=~"traces_span_metrics_duration.*_bucket", job="checkout"}`); err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("no exemplars yet")
		}
		return nil
	})
	for _, id := range found {
		require.True(t, traces[id], "exemplar trace_id %q is one of the traces sent (%v)", id, traces)
	}
}
