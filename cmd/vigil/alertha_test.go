package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
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

// oncall is an Alertmanager webhook receiver: the notifications the on-call would get.
type oncall struct {
	mu    sync.Mutex
	notes []struct {
		Status string
		Alerts []struct {
			Status string
			Labels map[string]string
		}
	}
}

func (o *oncall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n struct {
		Status string
		Alerts []struct {
			Status string
			Labels map[string]string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.notes = append(o.notes, n)
	o.mu.Unlock()
}

// count returns the notifications received with status (firing, resolved).
func (o *oncall) count(status string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, x := range o.notes {
		if x.Status == status {
			n++
		}
	}
	return n
}

// startAlertGateway runs a gateway (deploy/config/gateway.yaml as shipped) whose alert core
// evaluates rules and notifies am; it returns the process and its OTLP/HTTP address.
func startAlertGateway(t *testing.T, ca *testutil.CA, cert testutil.CertFiles, name, rules, am string) (*testutil.Process, string) {
	t.Helper()
	override := filepath.Join(t.TempDir(), "alert.yaml")
	// The replicas' configurations are the same: no per-replica external label, so that
	// Alertmanager sees one alert (identical label sets) from both.
	require.NoError(t, os.WriteFile(override, fmt.Appendf(nil, `
extensions:
  clusterauth:
    clusters:
      - name: cluster-a
        bearer_tokens: [%q]
exporters:
  alert:
    rule_files: [%q]
    alertmanagers: [%q]
    external_labels: {source: vigil}
    min_eval_interval: 100ms
    evaluation_interval: 2s
    resend_delay: 1s
`, haToken, rules, am), 0o600))
	health, httpAddr, api := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	mport := testutil.FreePort(t)
	p := testutil.Start(t, name, []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_OTLP_HTTP_ENDPOINT=" + httpAddr,
		"VIGIL_AUDIT_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_AUDIT_OTLP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + health, "VIGIL_API_ENDPOINT=" + api,
		fmt.Sprintf("VIGIL_METRICS_PORT=%d", mport),
		"VIGIL_TLS_CA_FILE=" + ca.CertFile, "VIGIL_TLS_CERT_FILE=" + cert.CertFile, "VIGIL_TLS_KEY_FILE=" + cert.KeyFile,
		"VIGIL_ARCHIVE_WRITER=" + name,
	}, testutil.VigilBinary(t), "--config", "../../deploy/config/gateway.yaml", "--config", override, "--data-dir", t.TempDir())
	testutil.WaitHTTP(t, "http://"+health+"/", 30*time.Second, p)
	return p, httpAddr
}

// haToken is cluster-a's bearer token on the gateways (OTLP/HTTP authenticates by token).
const haToken = "cluster-a-metrics-token-0123456789"

// TestAlertHAPairNotifiesOnce: two real gateways evaluate the same rule on the same metrics (an
// HA pair, as two Prometheus replicas scraping the same targets) and both send to one real
// Alertmanager. The on-call is notified once when the alert fires; one gateway is SIGKILLed and
// the alert stays active in Alertmanager without a gap (the survivor keeps re-sending it) and
// without a second notification; it resolves once when the lag recovers.
func TestAlertHAPairNotifiesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two vigil gateways and Alertmanager; skipped with -short")
	}
	hook := &oncall{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	am := testutil.StartAlertmanagerWithConfig(t, fmt.Sprintf(`
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    webhook_configs: [{url: %q, send_resolved: true}]
`, srv.URL))
	rules := filepath.Join(t.TempDir(), "lag.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
  - name: lag
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
`), 0o600))
	ca := testutil.NewCA(t)
	cert := ca.Issue(t, "vigil-gateway")
	gw0, addr0 := startAlertGateway(t, ca, cert, "vigil-gateway-0", rules, am.URL)
	_, addr1 := startAlertGateway(t, ca, cert, "vigil-gateway-1", rules, am.URL)

	// The same metrics reach both replicas: one SDK, one reader (exporter) per gateway, as
	// cluster-a (its token).
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	agent := ca.Issue(t, "vigil-agent.cluster-a") // the gateway asks every client for a certificate
	pair, err := tls.LoadX509KeyPair(agent.CertFile, agent.KeyFile)
	require.NoError(t, err)
	tlsCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	var readers []sdkmetric.Option
	for _, addr := range []string{addr0, addr1} {
		exp, err := otlpmetrichttp.New(context.Background(), otlpmetrichttp.WithEndpoint(addr),
			otlpmetrichttp.WithTLSClientConfig(tlsCfg),
			otlpmetrichttp.WithHeaders(map[string]string{"Authorization": "Bearer " + haToken}), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
		require.NoError(t, err)
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(200*time.Millisecond))))
	}
	var lag atomic.Uint64
	lag.Store(math.Float64bits(42))
	mp := sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("postgres"), semconv.ServiceInstanceID("db-1:9187"))))...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	_, err = mp.Meter("replication").Float64ObservableGauge("pg.replication.lag", metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(math.Float64frombits(lag.Load()))
			return nil
		}))
	require.NoError(t, err)

	active := func() (bool, error) {
		alerts, err := activeAlerts(am, "ReplicaLagHigh")
		return len(alerts) == 1, err
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if hook.count("firing") == 0 {
			all, err := am.Alerts()
			return fmt.Errorf("no notification yet; Alertmanager holds %v (%v)", all, err)
		}
		return nil
	})
	alerts, err := activeAlerts(am, "ReplicaLagHigh")
	require.NoError(t, err)
	require.Len(t, alerts, 1, "both replicas' alerts are one alert in Alertmanager")
	require.Equal(t, "cluster-a", alerts[0].Labels["k8s_cluster_name"])
	require.Equal(t, "vigil", alerts[0].Labels["source"])
	require.NotContains(t, alerts[0].Labels, "replica", "no per-replica label: Alertmanager deduplicates by labels")

	// Both replicas send (each every resend_delay); a few seconds later the on-call still has one page.
	time.Sleep(4 * time.Second)
	require.Equal(t, 1, hook.count("firing"), "two replicas, one notification")

	// One replica dies. Its last alert would time out at endsAt (4 x evaluation_interval = 8s
	// ahead): the survivor's re-sends keep the alert active past that, with no gap.
	require.NoError(t, syscall.Kill(gw0.Cmd.Process.Pid, syscall.SIGKILL))
	deadline := time.Now().Add(14 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := active()
		require.NoError(t, err)
		require.True(t, ok, "the alert left Alertmanager after one replica died")
		time.Sleep(250 * time.Millisecond)
	}
	require.Equal(t, 1, hook.count("firing"), "the survivor's re-sends page nobody again")
	require.Zero(t, hook.count("resolved"))

	// The lag recovers: the survivor resolves the alert, and the on-call hears it once.
	lag.Store(math.Float64bits(1))
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := hook.count("resolved"); n != 1 {
			return fmt.Errorf("%d resolved notifications", n)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	require.Equal(t, 1, hook.count("resolved"))
	require.Equal(t, 1, hook.count("firing"))
}
