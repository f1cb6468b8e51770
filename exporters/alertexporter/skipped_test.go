package alertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/rules"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/testutil"
)

const pinnedGroup = `  - name: pinned
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: LagAboveNewYear
        expr: pg_replication_lag_seconds > pg_replication_lag_seconds @ 1609459200
`

const replicationGroup = `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
`

func gaugeValue(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	var v int64
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		v += dp.Value
	}
	return v
}

// firing returns the names of the alerts that fire, by group.
func firing(e *alertExporter) map[string][]string {
	out := map[string][]string{}
	for _, g := range e.gen.Load().groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok && ar.State() == rules.StateFiring {
				out[g.Name()] = append(out[g.Name()], ar.Name())
			}
		}
	}
	return out
}

func rulesAPI(t *testing.T, e *alertExporter) []apiGroup {
	t.Helper()
	rec := httptest.NewRecorder()
	e.serveRules(rec, httptest.NewRequest(http.MethodGet, "/api/v1/rules", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var resp struct {
		Data struct {
			Groups []apiGroup `json:"groups"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	return resp.Data.Groups
}

// A rule the streaming core cannot evaluate, a file that is not YAML and a pattern that matches
// nothing do not stop the exporter: they are skipped, logged, counted and (the group) shown by
// /api/v1/rules with health "err"; the other groups, of the same file too, run.
func TestBadGroupsAreSkippedAtStart(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "replication.yaml")
	require.NoError(t, os.WriteFile(good, []byte(replicationGroup+pinnedGroup), 0o600))
	broken := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte("groups: [\n"), 0o600))
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{filepath.Join(dir, "*.yaml"), filepath.Join(dir, "missing-*.yaml")}
	cfg.MinEvalInterval = 10 * time.Millisecond
	e, tel := startMeasured(t, cfg) // Validate and Start succeed

	require.Equal(t, []string{good + ";replication"}, e.gen.Load().keys)
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, time.Now())))
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := firing(e); len(got["replication"]) != 1 {
			return fmt.Errorf("firing: %v", got)
		}
		return nil
	})
	require.Equal(t, int64(3), gaugeValue(t, tel, "vigil_alert_rule_groups_skipped"))

	groups := rulesAPI(t, e)
	require.Len(t, groups, 2)
	require.Equal(t, "replication", groups[0].Name)
	require.Equal(t, "ok", groups[0].Rules[0].Health)
	pinned := groups[1]
	require.Equal(t, "pinned", pinned.Name)
	require.Equal(t, good, pinned.File)
	require.Len(t, pinned.Rules, 2)
	for _, r := range pinned.Rules {
		require.Equal(t, "err", r.Health, r.Name)
		require.Contains(t, r.LastError, `group "pinned", rule 2, "LagAboveNewYear": cannot keep the samples of pg_replication_lag_seconds @ 1609459200.000`)
	}
	require.Equal(t, "alerting", pinned.Rules[1].Type)
	require.Equal(t, "inactive", pinned.Rules[1].State)
}

// On a reload, a new file's bad group is skipped while its good groups load; a file that turns
// bad keeps its previous version in force, with its alert state; the reload counts as failed.
func TestReloadSkipsBadGroups(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "a.yaml")
	require.NoError(t, os.WriteFile(first, []byte(replicationGroup), 0o600))
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{filepath.Join(dir, "*.yaml")}
	cfg.MinEvalInterval = 50 * time.Millisecond
	cfg.ReloadInterval = 100 * time.Millisecond
	e, tel := startMeasured(t, cfg)
	feed(t, e, func() pmetric.Metrics { return lag("db-1:9187", 45, time.Now()) })
	feed(t, e, func() pmetric.Metrics { return gauge("redis_master_link_up", 0) })
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := firing(e); len(got["replication"]) != 1 {
			return fmt.Errorf("firing: %v", got)
		}
		return nil
	})
	activeSince := e.gen.Load().groups[0].Rules()[0].(*rules.AlertingRule).ActiveAlerts()[0].ActiveAt

	replaceFile(t, filepath.Join(dir, "b.yaml"), `groups:
  - name: redis
    rules:
      - alert: RedisReplicaLinkDown
        expr: redis_master_link_up == 0
`+pinnedGroup)
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := firing(e); len(got["redis"]) != 1 || len(got["replication"]) != 1 {
			return fmt.Errorf("firing: %v", got)
		}
		return nil
	})
	require.Equal(t, int64(1), gaugeValue(t, tel, "vigil_alert_rule_groups_skipped"))
	require.Equal(t, map[string]int64{"failure": 1}, counterValues(t, tel, "vigil_alert_rule_reloads", "result"))
	require.Equal(t, []string{"replication", "redis", "pinned"}, groupNames(rulesAPI(t, e)), "b.yaml is new: its bad group is shown")

	// a.yaml turns bad: its previous version stays in force, with its state; b.yaml stays too.
	replaceFile(t, first, strings.Replace(replicationGroup, "> 30", "> 30 @ 1609459200", 1))
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := counterValues(t, tel, "vigil_alert_rule_reloads", "result")["failure"]; n != 2 {
			return fmt.Errorf("%d failed reloads", n)
		}
		return nil
	})
	require.Equal(t, int64(2), gaugeValue(t, tel, "vigil_alert_rule_groups_skipped"))
	gen := e.gen.Load()
	require.Equal(t, []string{first + ";replication", filepath.Join(dir, "b.yaml") + ";redis"}, gen.keys)
	ar := gen.groups[0].Rules()[0].(*rules.AlertingRule)
	require.Equal(t, "pg_replication_lag_seconds > 30", ar.Query().String(), "the version in force")
	require.Equal(t, activeSince, ar.ActiveAlerts()[0].ActiveAt)
	require.Equal(t, []string{"replication", "redis"}, groupNames(rulesAPI(t, e)),
		"both files keep their versions in force, shown as they run")
}

func groupNames(groups []apiGroup) []string {
	names := []string{}
	for _, g := range groups {
		names = append(names, g.Name)
	}
	return names
}
