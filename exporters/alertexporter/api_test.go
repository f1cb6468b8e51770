package alertexporter

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// Prometheus's own API client (what Grafana's Prometheus data source speaks) reads vigil's rules
// and alerts.
func TestReadAPIWithPrometheusClient(t *testing.T) {
	addr := testutil.FreeAddr(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, `groups:
  - name: replication
    interval: 30s
    rules:
      - record: job:pg_replication_lag_seconds:max
        expr: max by (job) (pg_replication_lag_seconds)
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 1h
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.instance }} lags"}
      - alert: ReplicaLagExtreme
        expr: pg_replication_lag_seconds > 40
`)}
	cfg.API.NetAddr.Endpoint = addr
	cfg.MinEvalInterval = 50 * time.Millisecond
	e := startExporter(t, cfg)
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, time.Now())))

	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	require.NoError(t, err)
	v1 := promv1.NewAPI(client)
	ctx := context.Background()
	var alerts promv1.AlertsResult
	testutil.Eventually(t, 5*time.Second, func() error {
		alerts, err = v1.Alerts(ctx)
		if err != nil {
			return err
		}
		if len(alerts.Alerts) != 2 {
			return fmt.Errorf("%d alerts", len(alerts.Alerts))
		}
		return nil
	})
	states := map[string]promv1.AlertState{}
	for _, a := range alerts.Alerts {
		states[string(a.Labels["alertname"])] = a.State
		require.Equal(t, model.LabelValue("db-1:9187"), a.Labels["instance"])
		require.Equal(t, "4.5e+01", a.Value)
	}
	require.Equal(t, map[string]promv1.AlertState{"ReplicaLagHigh": promv1.AlertStatePending, "ReplicaLagExtreme": promv1.AlertStateFiring}, states)

	rules, err := v1.Rules(ctx, nil)
	require.NoError(t, err)
	require.Len(t, rules.Groups, 1)
	g := rules.Groups[0]
	require.Equal(t, "replication", g.Name)
	require.Equal(t, 30.0, g.Interval)
	require.Len(t, g.Rules, 3)
	rec, ok := g.Rules[0].(promv1.RecordingRule)
	require.True(t, ok, "%T", g.Rules[0])
	require.Equal(t, "job:pg_replication_lag_seconds:max", rec.Name)
	require.EqualValues(t, "ok", rec.Health)
	high, ok := g.Rules[1].(promv1.AlertingRule)
	require.True(t, ok, "%T", g.Rules[1])
	require.Equal(t, "ReplicaLagHigh", high.Name)
	require.Equal(t, "pg_replication_lag_seconds > 30", high.Query)
	require.Equal(t, 3600.0, high.Duration)
	require.Equal(t, "pending", high.State)
	require.Equal(t, model.LabelValue("warning"), high.Labels["severity"])
	require.Equal(t, model.LabelValue("db-1:9187 lags"), high.Alerts[0].Annotations["summary"])

	resp, err := http.Get("http://" + addr + "/api/v1/rules?type=nonsense") //nolint:noctx // test
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
