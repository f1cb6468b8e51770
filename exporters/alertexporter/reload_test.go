package alertexporter

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// feed consumes a batch every 100ms until the test ends.
func feed(t *testing.T, e *alertExporter, batch func() pmetric.Metrics) {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := e.ConsumeMetrics(context.Background(), batch()); err != nil {
				t.Error(err)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

func gauge(name string, v float64) pmetric.Metrics {
	md := lag("redis-1:6379", v, time.Now())
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName(name)
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetUnit("")
	return md
}

func eventually(t *testing.T, am *amRecorder, name string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(am.received(name)) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
}

// Changed rule files are reloaded: new rules and new metrics are evaluated, the pending timer of
// an unchanged alert runs on, and a broken file leaves the rules in force.
func TestRuleFilesReload(t *testing.T) {
	am := newAMRecorder(t)
	const v1 = `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 6s
`
	path := writeRules(t, v1)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{path}
	cfg.Alertmanagers = []string{am.URL}
	cfg.MinEvalInterval = 100 * time.Millisecond
	cfg.ReloadInterval = 200 * time.Millisecond
	cfg.ResendDelay = 200 * time.Millisecond
	e, tel := startMeasured(t, cfg)
	feed(t, e, func() pmetric.Metrics { return lag("db-1:9187", 45, time.Now()) })
	feed(t, e, func() pmetric.Metrics { return gauge("redis_master_link_up", 0) })

	time.Sleep(3 * time.Second) // ReplicaLagHigh pending for ~3s of 6s
	replaceFile(t, path, v1+`      - alert: ReplicaLagExtreme
        expr: pg_replication_lag_seconds > 40
  - name: redis
    rules:
      - alert: RedisReplicaLinkDown
        expr: redis_master_link_up == 0
`)
	reloaded := time.Now()
	eventually(t, am, "ReplicaLagExtreme")
	eventually(t, am, "RedisReplicaLinkDown") // a metric the old rules did not need
	eventually(t, am, "ReplicaLagHigh")
	took := time.Since(reloaded)
	// ~3s left of its for; a restarted timer would take 6s. The margin is for a loaded machine.
	require.Less(t, took, 5*time.Second, "ReplicaLagHigh fired %s after the reload: its for timer restarted", took)

	replaceFile(t, path, "groups:\n  - name: broken\n    rules:\n      - alert: X\n        expr: sum(\n")
	testutil.Eventually(t, 5*time.Second, func() error {
		if counterValues(t, tel, "vigil_alert_rule_reloads", "result")["failure"] != 1 {
			return os.ErrNotExist
		}
		return nil
	})
	require.Equal(t, map[string]int64{"success": 1, "failure": 1}, counterValues(t, tel, "vigil_alert_rule_reloads", "result"))
	// The rules in force stay: ReplicaLagExtreme is still re-sent.
	n := len(am.received("ReplicaLagExtreme"))
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(am.received("ReplicaLagExtreme")) == n {
			return os.ErrNotExist
		}
		return nil
	})
}

// replaceFile replaces path's content at once, as a ConfigMap update or an editor's save does
// (os.WriteFile truncates first: the reloader could read the empty file in between).
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// TestRuleFileWrittenInPlace: a rules file rewritten in place (empty, then filled, as
// `cat > rules.yaml` does) is loaded once, whole; the empty file in between is never loaded.
func TestRuleFileWrittenInPlace(t *testing.T) {
	const v1 = `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
`
	path := writeRules(t, v1)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{path}
	cfg.MinEvalInterval = 100 * time.Millisecond
	cfg.ReloadInterval = 50 * time.Millisecond
	e, tel := startMeasured(t, cfg)

	require.NoError(t, os.WriteFile(path, nil, 0o600)) // truncated: several checks see it empty
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, os.WriteFile(path, []byte(v1+`      - alert: ReplicaLagExtreme
        expr: pg_replication_lag_seconds > 40
`), 0o600))
	testutil.Eventually(t, 5*time.Second, func() error {
		if counterValues(t, tel, "vigil_alert_rule_reloads", "result")["success"] == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	time.Sleep(2 * reloadSettle)
	require.Equal(t, map[string]int64{"success": 1}, counterValues(t, tel, "vigil_alert_rule_reloads", "result"),
		"only the whole file is loaded")
	require.Len(t, e.gen.Load().groups[0].Rules(), 2)
}

// startMeasured starts an alert exporter with cfg whose telemetry the test reads.
func startMeasured(t *testing.T, cfg *Config) (*alertExporter, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp.(*alertExporter), tel
}
