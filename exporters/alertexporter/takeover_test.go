package alertexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

const lagRulesFor1h = `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: max by (k8s_cluster_name, instance) (pg_replication_lag_seconds) > 30
        for: 1h
        labels:
          severity: critical
`

// postAlert puts an alert into Alertmanager as another gateway's notifier would.
func postAlert(t *testing.T, am *testutil.Alertmanager, lbls map[string]string, startsAt time.Time) {
	t.Helper()
	body, err := json.Marshal([]map[string]any{{"labels": lbls, "startsAt": startsAt, "endsAt": time.Now().Add(time.Hour)}})
	require.NoError(t, err)
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestFiringAlertTakenOverFromAlertmanager: a gateway that receives series another gateway
// evaluated before it died (the agent moved them) finds the alert firing at an Alertmanager and
// fires it at once, instead of after its `for` of an hour; an alert of other labels, not at the
// Alertmanagers, waits its `for`.
func TestFiringAlertTakenOverFromAlertmanager(t *testing.T) {
	seeded, fresh := testutil.StartAlertmanager(t), testutil.StartAlertmanager(t)
	firingSince := time.Now().Add(-20 * time.Minute).UTC().Truncate(time.Second)
	db1 := map[string]string{
		"alertname": "ReplicaLagHigh", "severity": "critical", "instance": "db-1:9187",
		"k8s_cluster_name": "prod-eu", "cluster": "gateway-1",
	}
	postAlert(t, seeded, db1, firingSince) // sent by the gateway that died

	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagRulesFor1h)}
	cfg.Alertmanagers = []string{seeded.URL, fresh.URL}
	cfg.ExternalLabels = map[string]string{"cluster": "gateway-1"}
	cfg.MinEvalInterval = 100 * time.Millisecond
	cfg.EvaluationInterval = 10 * time.Second
	cfg.ResendDelay = time.Second
	e := startExporter(t, cfg)
	now := time.Now()
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, now)))
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-2:9187", 45, now)))

	// Only this gateway sends to fresh: the alert there is its own, fired long before its `for`.
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := findAlert(fresh, "ReplicaLagHigh")
		return err
	})
	alerts, err := fresh.Alerts()
	require.NoError(t, err)
	require.Len(t, alerts, 1, "db-2's alert is not at any Alertmanager: it waits its hour")
	require.Equal(t, db1, alerts[0].Labels)

	// At the seeded Alertmanager it is still the one alert, firing since the dead gateway fired it.
	alerts, err = seeded.Alerts()
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	require.Equal(t, db1, alerts[0].Labels)
	require.True(t, alerts[0].StartsAt.Equal(firingSince), "startsAt %s, want %s", alerts[0].StartsAt, firingSince)
}

// TestTakeOverFiringOff: with take_over_firing false, the same alert waits its `for`.
func TestTakeOverFiringOff(t *testing.T) {
	seeded, fresh := testutil.StartAlertmanager(t), testutil.StartAlertmanager(t)
	postAlert(t, seeded, map[string]string{
		"alertname": "ReplicaLagHigh", "severity": "critical", "instance": "db-1:9187",
		"k8s_cluster_name": "prod-eu",
	}, time.Now().Add(-20*time.Minute))
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagRulesFor1h)}
	cfg.Alertmanagers = []string{seeded.URL, fresh.URL}
	cfg.MinEvalInterval = 100 * time.Millisecond
	cfg.TakeOverFiring = false
	e := startExporter(t, cfg)
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, time.Now())))
	time.Sleep(2 * time.Second)
	alerts, err := fresh.Alerts()
	require.NoError(t, err)
	require.Empty(t, alerts)
}
