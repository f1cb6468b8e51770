package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gokitlog "github.com/go-kit/log"
	"github.com/grafana/dskit/flagext"
	"github.com/grafana/loki/v3/clients/pkg/promtail/api"
	"github.com/grafana/loki/v3/clients/pkg/promtail/client"
	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/grafana/loki/v3/pkg/logproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// An application's logs reach a real Loki through the all-in-one, with the bounded label set and,
// as structured metadata, the trace context that the tracecontext processor read from the lines:
// a Spring Boot JSON line (traceId/spanId), a logfmt line (traceID) and a line whose record
// carries a captured traceparent header.
func TestApplicationLogsReachLokiWithTraceContext(t *testing.T) {
	loki := testutil.StartLokiWith(t, testutil.LokiOptions{StructuredMetadata: true})
	dir := t.TempDir()
	override := filepath.Join(dir, "with-loki.yaml")
	require.NoError(t, os.WriteFile(override, fmt.Appendf(nil, `
exporters:
  lokipush:
    endpoint: %s
    dead_letter_dir: %s
    sending_queue: {enabled: true, storage: walstorage}
service:
  pipelines:
    logs:
      exporters: [debug, lokipush]
`, loki.URL, filepath.Join(dir, "deadletter")), 0o600))
	a := startAllInOne(t, "--config", "embedded:allinone.yaml", "--config", override)

	const (
		trace1, span1 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		trace2        = "0af7651916cd43dd8448eb211c80319c"
		trace3, span3 = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	)
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(a.httpAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"),
		attribute.String("k8s.namespace.name", "shop"), attribute.String("k8s.pod.name", "checkout-7d9f-x2"))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger("checkout")
	emit := func(body string, sev otellog.Severity, attrs ...attribute.KeyValue) {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(sev)
		rec.SetBody(attribute.StringValue(body))
		rec.AddAttributes(attrs...)
		logger.Emit(ctx, rec)
	}
	emit(`{"@timestamp":"2026-12-07T02:50:01.123+00:00","message":"Fetching order 42","level":"INFO","traceId":"`+trace1+`","spanId":"`+span1+`"}`, otellog.SeverityInfo)
	emit(`level=warn ts=2026-12-07T02:50:02Z caller=pay.go:42 traceID=`+trace2+` msg="card declined"`, otellog.SeverityWarn)
	emit("GET /checkout 500", otellog.SeverityError,
		attribute.StringSlice("http.request.header.traceparent", []string{"00-" + trace3 + "-" + span3 + "-01"}))
	emit("no trace context here", otellog.SeverityInfo)
	require.NoError(t, lp.Shutdown(ctx), "the SDK must deliver every record")

	var streams loghttp.Streams
	testutil.Eventually(t, 30*time.Second, func() error {
		streams, err = lokiStreams(loki.URL, `{cluster="local", service_name="checkout"}`)
		if err != nil {
			return err
		}
		if n := entries(streams); n != 4 {
			return fmt.Errorf("%d of 4 lines in Loki", n)
		}
		return nil
	})
	for _, st := range streams {
		require.Equal(t, "shop", st.Labels["namespace"])
	}
	// Index labels are the bounded set; pod and the trace context are structured metadata (which
	// query answers show beside the labels).
	resp, err := http.Get(loki.URL + "/loki/api/v1/labels") //nolint:noctx // test
	require.NoError(t, err)
	var names struct{ Data []string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&names))
	_ = resp.Body.Close()
	require.Subset(t, names.Data, []string{"cluster", "namespace", "service_name", "level"})
	for _, n := range []string{"pod", "trace_id", "span_id"} {
		require.NotContains(t, names.Data, n, "%s is structured metadata, not an index label", n)
	}
	for trace, line := range map[string]string{trace1: "Fetching order 42", trace2: "card declined", trace3: "GET /checkout 500"} {
		got, err := lokiStreams(loki.URL, `{cluster="local"} | trace_id="`+trace+`"`)
		require.NoError(t, err)
		require.Equal(t, 1, entries(got), "trace %s", trace)
		require.Contains(t, got[0].Entries[0].Line, line)
	}
	got, err := lokiStreams(loki.URL, `{cluster="local"} | span_id="`+span3+`"`)
	require.NoError(t, err)
	require.Equal(t, 1, entries(got))
	got, err = lokiStreams(loki.URL, `{cluster="local", level="error"}`)
	require.NoError(t, err)
	require.Equal(t, 1, entries(got), "the level label comes from the severity")
	// The correlation dashboard's Loki panels show these lines.
	checkCorrelationLoki(t, loki.URL)
}

// lokiQuery runs a LogQL query (log or metric) on Loki's query_range API with the parameters
// params (query, start, end, limit, direction, step) and returns Loki's answer.
func lokiQuery(base string, params url.Values) (loghttp.QueryResponse, error) {
	var qr loghttp.QueryResponse
	resp, err := http.Get(base + "/loki/api/v1/query_range?" + params.Encode()) //nolint:noctx // test
	if err != nil {
		return qr, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return qr, fmt.Errorf("%s: %s", resp.Status, b)
	}
	err = json.Unmarshal(b, &qr)
	return qr, err
}

// lokiRange runs a LogQL log query over [start, end] (at most 1000 lines).
func lokiRange(base, q string, start, end time.Time) (loghttp.Streams, error) {
	qr, err := lokiQuery(base, url.Values{"query": {q}, "limit": {"1000"},
		"start": {strconv.FormatInt(start.UnixNano(), 10)}, "end": {strconv.FormatInt(end.UnixNano(), 10)}})
	s, _ := qr.Data.Result.(loghttp.Streams)
	return s, err
}

// lokiStreams runs a LogQL log query over the last hour.
func lokiStreams(base, q string) (loghttp.Streams, error) {
	return lokiRange(base, q, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
}

func entries(s loghttp.Streams) int {
	n := 0
	for _, st := range s {
		n += len(st.Entries)
	}
	return n
}

// TestLokiPushIntoTheGateway: Loki's own Promtail client sends to the gateway's Loki push API
// (deploy/examples/lokipush-in-gateway.yaml) over TLS with cluster-a's bearer token; the lines
// reach a real Loki labelled with that cluster. A stream that claims another cluster is refused
// (403) while the rest of its request is kept, and a request without credentials gets 401.
func TestLokiPushIntoTheGateway(t *testing.T) {
	loki := testutil.StartLokiWith(t, testutil.LokiOptions{StructuredMetadata: true})
	example, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "lokipush-in-gateway.yaml"))
	require.NoError(t, err)
	ca := testutil.NewCA(t)
	pushAddr := testutil.FreeAddr(t)
	startGatewayWith(t, ca, testutil.FreeAddr(t), []string{"VIGIL_LOKI_URL=" + loki.URL, "VIGIL_LOKI_PUSH_ENDPOINT=" + pushAddr}, string(example))
	endpoint := "https://" + pushAddr + "/loki/api/v1/push"

	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	cfg := client.Config{URL: flagext.URLValue{URL: u}, BatchWait: 50 * time.Millisecond, BatchSize: 1 << 20, Timeout: 5 * time.Second}
	cfg.BackoffConfig.MinBackoff, cfg.BackoffConfig.MaxBackoff, cfg.BackoffConfig.MaxRetries = 50*time.Millisecond, 500*time.Millisecond, 20
	cfg.Client.BearerToken = clusterAToken
	cfg.Client.TLSConfig.CAFile = ca.CertFile
	c, err := client.New(client.NewMetrics(prometheus.NewRegistry()), cfg, 0, 0, false, gokitlog.NewNopLogger())
	require.NoError(t, err)
	now := time.Now()
	for i := range 3 {
		c.Chan() <- api.Entry{
			Labels: model.LabelSet{"namespace": "shop", "workload": "cart", "container": "server", "job": "promtail"},
			Entry:  logproto.Entry{Timestamp: now.Add(time.Duration(i) * time.Millisecond), Line: fmt.Sprintf("promtail line %d", i)},
		}
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		lines, err := lokiLines(loki.URL, `{cluster="cluster-a", namespace="shop", container="server"}`)
		if err != nil {
			return err
		}
		if len(lines) != 3 {
			return fmt.Errorf("Loki has %d lines of cluster-a, want 3: %q", len(lines), lines)
		}
		return nil
	})
	c.Stop()

	// A request of cluster-a with a stream that claims cluster-b: that stream is refused, the
	// other is kept.
	body := fmt.Sprintf(`{"streams":[{"stream":{"cluster":"cluster-b","namespace":"shop"},"values":[["%d","spoofed"]]},`+
		`{"stream":{"namespace":"shop","container":"json"},"values":[["%d","kept"]]}]}`, now.UnixNano(), now.UnixNano())
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.TLSConfig()}}
	status, answer := postJSON(t, tlsClient, endpoint, clusterAToken, body)
	require.Equal(t, http.StatusForbidden, status, answer)
	require.Contains(t, answer, `stream claims cluster "cluster-b" but the credentials are those of cluster "cluster-a"`)
	status, answer = postJSON(t, tlsClient, endpoint, "", body)
	require.Equal(t, http.StatusUnauthorized, status, answer)
	testutil.Eventually(t, 60*time.Second, func() error {
		lines, err := lokiLines(loki.URL, `{cluster="cluster-a", container="json"}`)
		if err != nil || len(lines) != 1 {
			return fmt.Errorf("Loki has %q (%v), want the kept line", lines, err)
		}
		return nil
	})
	lines, err := lokiLines(loki.URL, `{cluster="cluster-b"}`)
	require.NoError(t, err)
	require.Empty(t, lines, "nothing reaches Loki as cluster-b")
}

func postJSON(t *testing.T, c *http.Client, endpoint, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLokipushExamplesValidate: the Loki push API overrides validate on their role configs, with
// Loki out set and unset.
func TestLokipushExamplesValidate(t *testing.T) {
	examples := filepath.Join("..", "..", "deploy", "examples")
	for _, args := range [][]string{
		{"--config", "embedded:allinone.yaml", "--config", filepath.Join(examples, "lokipush-in.yaml")},
		{"--config", "embedded:gateway.yaml", "--config", filepath.Join(examples, "lokipush-in-gateway.yaml")},
	} {
		for _, lokiURL := range []string{"http://127.0.0.1:3100", ""} {
			roleEnv(t)
			t.Setenv("VIGIL_LOKI_URL", lokiURL)
			msg, err := execute(t, append([]string{"validate"}, args...)...)
			require.NoError(t, err, "%v: %s", args, msg)
		}
	}
}
