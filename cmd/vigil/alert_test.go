package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// alertOverride adds the alert exporter to the all-in-one's metrics pipeline.
func alertOverride(t *testing.T, ruleFiles, alertmanager string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "alert.yaml")
	require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, `
exporters:
  alert:
    rule_files: [%q]
    alertmanagers: [%q]
    external_labels: {cluster: e2e}
    min_eval_interval: 100ms
    evaluation_interval: 10s
    resend_delay: 1s
service:
  pipelines:
    metrics:
      exporters: [debug, alert]
`, ruleFiles, alertmanager), 0o600))
	return p
}

func TestValidateWithAlertExporter(t *testing.T) {
	roleEnv(t)
	packs := filepath.Join("..", "..", "deploy", "rules", "*.yaml")
	out, err := execute(t, "validate", "--config", "embedded:allinone.yaml", "--config", alertOverride(t, packs, "http://127.0.0.1:9093"))
	require.NoError(t, err, out)

	bad := filepath.Join("testdata", "rules", "bad.yaml")
	out, err = execute(t, "validate", "--config", "embedded:allinone.yaml", "--config", alertOverride(t, bad, "127.0.0.1:9093"))
	require.Error(t, err)
	msg := out + err.Error()
	require.Contains(t, msg, `rule_files: `+bad+`: 5:15: group "broken", rule 1, "BadExpr": could not parse expression`)
	require.Contains(t, msg, `alertmanagers: "127.0.0.1:9093" must start with http:// or https://`)
}

// TestAlertEndToEnd: the all-in-one vigil binary, given only --rules and --alertmanager, receives
// a replication-lag gauge from the OpenTelemetry SDK over OTLP/HTTP; the alert reaches a real
// Alertmanager and resolves when the lag recovers. The built-in packs are loaded too (read API).
func TestAlertEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the vigil binary and Alertmanager; skipped with -short")
	}
	am := testutil.StartAlertmanager(t)
	rules := filepath.Join(t.TempDir(), "lag.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
  - name: lag
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        annotations:
          summary: "{{ $labels.instance }} lags {{ $value }}s"
`), 0o600))
	a := startAllInOne(t, "--rules", rules, "--alertmanager", am.URL)
	// The rules are on the API port, beside the archive's Loki API.
	groups := getJSON(t, "http://"+a.apiAddr+"/api/v1/rules")
	for _, want := range []string{`"name":"vigil-capacity"`, `"name":"vigil-replication-redis"`, `"name":"lag"`} {
		require.Contains(t, groups, want)
	}

	var lag atomic.Uint64
	lag.Store(math.Float64bits(3))
	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(a.httpAddr), otlpmetrichttp.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(200*time.Millisecond))),
		sdkmetric.WithResource(resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName("postgres"), semconv.ServiceInstanceID("db-1:9187"))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	_, err = mp.Meter("replication").Float64ObservableGauge("pg.replication.lag", metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(math.Float64frombits(lag.Load()))
			return nil
		}))
	require.NoError(t, err)

	time.Sleep(time.Second)
	alerts, err := am.Alerts()
	require.NoError(t, err)
	require.Empty(t, alerts, "3s of lag fires nothing")

	lag.Store(math.Float64bits(42))
	var fired testutil.AlertmanagerAlert
	testutil.Eventually(t, 10*time.Second, func() error {
		alerts, err := am.Alerts()
		if err != nil {
			return err
		}
		if len(alerts) != 1 {
			return fmt.Errorf("%d alerts", len(alerts))
		}
		fired = alerts[0]
		return nil
	})
	require.Equal(t, "ReplicaLagHigh", fired.Labels["alertname"])
	require.Equal(t, "db-1:9187", fired.Labels["instance"])
	require.Equal(t, "postgres", fired.Labels["job"])
	require.Equal(t, "db-1:9187 lags 42s", fired.Annotations["summary"])

	lag.Store(math.Float64bits(1))
	testutil.Eventually(t, 10*time.Second, func() error {
		alerts, err := am.Alerts()
		if err != nil {
			return err
		}
		if len(alerts) != 0 {
			return fmt.Errorf("still %d alerts, endsAt %s", len(alerts), alerts[0].EndsAt)
		}
		return nil
	})
}

func TestAlertFlagsBecomeSets(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"--data-dir", "d"}, nil},
		{[]string{"--rules", "a.yaml", "--rules=b/*.yaml", "--alertmanager", "http://am:9093"},
			[]string{"embedded:allinone.yaml", `yaml:exporters::alert::rule_files: ["builtin:*.yaml", "a.yaml", "b/*.yaml"]`,
				`yaml:exporters::alert::alertmanagers: ["http://am:9093"]`}},
		{[]string{"--alertmanager=http://a", "--config", "x.yaml", "--alertmanager=http://b"},
			[]string{"x.yaml", `yaml:exporters::alert::alertmanagers: ["http://a", "http://b"]`}},
	}
	for _, tc := range tests {
		uris, err := parseRunFlags(t, tc.in...)
		require.NoError(t, err, "%v", tc.in)
		require.Equal(t, tc.want, uris, "%v", tc.in)
	}
	_, err := parseRunFlags(t, "--rules")
	require.ErrorContains(t, err, "flag needs an argument: --rules")
}

func TestValidateWithAlertFlags(t *testing.T) {
	roleEnv(t)
	out, err := execute(t, "validate", "--rules", filepath.Join("testdata", "rules", "good.yaml"), "--alertmanager", "http://127.0.0.1:9093")
	require.NoError(t, err, out)
	out, err = execute(t, "validate", "--rules", filepath.Join("testdata", "rules", "bad.yaml"), "--alertmanager", "127.0.0.1:9093")
	require.Error(t, err)
	msg := out + err.Error()
	require.Contains(t, msg, `"BadExpr": could not parse expression`)
	require.Contains(t, msg, `alertmanagers: "127.0.0.1:9093" must start with http:// or https://`)
}

func getJSON(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}
