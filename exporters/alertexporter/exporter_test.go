package alertexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/testutil"
)

const lagRules = `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: max by (k8s_cluster_name, instance) (pg_replication_lag_seconds) > 30
        labels:
          severity: critical
        annotations:
          summary: "replica {{ $labels.instance }} lags {{ $value }}s"
          runbook: "check the replica's WAL replay; see deploy/rules/README.md"
`

func writeRules(t *testing.T, content string) string { return writeRulesB(t, content) }

func writeRulesB(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// lag is an OTLP gauge pg.replication.lag (unit s) of one replica, as a receiver would deliver it.
func lag(instance string, v float64, at time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "postgres")
	rm.Resource().Attributes().PutStr("service.instance.id", instance)
	rm.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("pg.replication.lag")
	m.SetUnit("s")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(v)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.Attributes().PutStr("application_name", "replica-1")
	return md
}

func startExporter(t *testing.T, cfg *Config) *alertExporter {
	t.Helper()
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	if os.Getenv("VIGIL_TEST_LOG") != "" { // the exporter's and Prometheus's logs, for debugging
		set.Logger = zap.Must(zap.NewDevelopment())
	}
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	e := exp.(*alertExporter)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	return e
}

func findAlert(am *testutil.Alertmanager, name string) (*testutil.AlertmanagerAlert, error) {
	alerts, err := am.Alerts()
	if err != nil {
		return nil, err
	}
	for i := range alerts {
		if alerts[i].Labels["alertname"] == name {
			return &alerts[i], nil
		}
	}
	return nil, fmt.Errorf("alert %s not in %s (%d alerts)", name, am.URL, len(alerts))
}

// TestAlertFiresAndResolvesInRealAlertmanager pushes metrics into the exporter; the lag alert
// reaches two real Alertmanagers with the external labels, is re-sent while firing, and resolves
// when the lag recovers.
func TestAlertFiresAndResolvesInRealAlertmanager(t *testing.T) {
	am1, am2 := testutil.StartAlertmanager(t), testutil.StartAlertmanager(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagRules)}
	cfg.Alertmanagers = []string{am1.URL, am2.URL + "/"}
	cfg.ExternalLabels = map[string]string{"cluster": "gateway-1", "replica": "a"}
	cfg.MinEvalInterval = 100 * time.Millisecond
	// Alerts are valid for 4 x max(evaluation_interval, resend_delay) = 40s after each send: the
	// resolution below, seen within seconds, cannot be an expiry.
	cfg.EvaluationInterval = 10 * time.Second
	cfg.ResendDelay = time.Second
	e := startExporter(t, cfg)
	ctx := context.Background()

	require.NoError(t, e.ConsumeMetrics(ctx, lag("db-1:9187", 12, time.Now())))
	time.Sleep(500 * time.Millisecond)
	for _, am := range []*testutil.Alertmanager{am1, am2} {
		_, err := findAlert(am, "ReplicaLagHigh")
		require.Error(t, err, "12s of lag is below the threshold")
	}

	require.NoError(t, e.ConsumeMetrics(ctx, lag("db-1:9187", 45, time.Now())))
	var first *testutil.AlertmanagerAlert
	for _, am := range []*testutil.Alertmanager{am1, am2} {
		testutil.Eventually(t, 10*time.Second, func() error {
			a, err := findAlert(am, "ReplicaLagHigh")
			if err != nil {
				return err
			}
			first = a
			return nil
		})
		require.Equal(t, map[string]string{
			"alertname": "ReplicaLagHigh", "severity": "critical", "instance": "db-1:9187",
			"k8s_cluster_name": "prod-eu", "cluster": "gateway-1", "replica": "a",
		}, first.Labels)
		require.Equal(t, "replica db-1:9187 lags 45s", first.Annotations["summary"])
		require.Equal(t, "active", first.Status.State)
		require.True(t, first.EndsAt.After(time.Now()), "a firing alert ends in the future")
	}

	// Re-sent while firing (on each evaluation at least resend_delay after the last send): endsAt
	// moves forward.
	testutil.Eventually(t, 10*time.Second, func() error {
		if err := e.ConsumeMetrics(ctx, lag("db-1:9187", 50, time.Now())); err != nil {
			return err
		}
		a, err := findAlert(am1, "ReplicaLagHigh")
		if err != nil {
			return err
		}
		if !a.EndsAt.After(first.EndsAt) {
			return fmt.Errorf("endsAt still %s", a.EndsAt)
		}
		return nil
	})

	// Recovery: the evaluation that the sample triggers resolves the alert. (A different value
	// in the same millisecond as the last sample would be refused as a duplicate, as in Prometheus.)
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, e.ConsumeMetrics(ctx, lag("db-1:9187", 2, time.Now())))
	for _, am := range []*testutil.Alertmanager{am1, am2} {
		testutil.Eventually(t, 5*time.Second, func() error {
			if a, err := findAlert(am, "ReplicaLagHigh"); err == nil {
				return fmt.Errorf("still active in %s, endsAt %s", am.URL, a.EndsAt)
			}
			return nil
		})
	}
}
