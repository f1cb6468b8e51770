package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestReplicationLagAlertsEndToEnd: vigil scrapes a real PostgreSQL primary and streaming replica
// and a real Redis master and replica itself (replication receiver), evaluates the lag rules and
// notifies a real Alertmanager: the PostgreSQL alert fires while replay is paused and resolves
// when it resumes; the Redis alert fires while the replica's link is down and resolves after.
func TestReplicationLagAlertsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil, PostgreSQL, Redis and Alertmanager; skipped with -short")
	}
	am := testutil.StartAlertmanager(t)
	primary := testutil.StartPostgreSQL(t)
	replica := primary.StartReplica(t)
	master := testutil.StartRedis(t, "")
	redisReplica := testutil.StartRedis(t, master.Addr)

	dir := t.TempDir()
	rules := filepath.Join(dir, "lag.yaml")
	// The expressions of the built-in pack (deploy/rules/replication.yaml), with a 2s threshold
	// and no `for`, so that the test takes seconds.
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
  - name: lag
    rules:
      - alert: PostgresReplicaLagging
        expr: max by (k8s_cluster_name, namespace, job, instance) (pg_replication_lag_seconds or cnpg_pg_replication_lag) > 2
      - alert: RedisReplicaLinkDown
        expr: redis_master_link_up == 0
`), 0o600))
	override := filepath.Join(dir, "replication.yaml")
	require.NoError(t, os.WriteFile(override, fmt.Appendf(nil, `
receivers:
  replication:
    collection_interval: 250ms
    timeout: 250ms
    postgresql: [{dsn: %q}, {dsn: %q}]
    redis: [{endpoint: %q}, {endpoint: %q}]
exporters:
  alert:
    rule_files: [%q]
    alertmanagers: [%q]
    external_labels: {cluster: e2e}
    min_eval_interval: 100ms
    resend_delay: 1s
service:
  pipelines:
    metrics/replication:
      receivers: [replication]
      exporters: [alert]
`, primary.DSN, replica.DSN, master.Addr, redisReplica.Addr, rules, am.URL), 0o600))
	aio := startAllInOne(t, "--config", "embedded:allinone.yaml", "--config", override)

	alerts := func(name string) ([]testutil.AlertmanagerAlert, error) {
		all, err := am.Alerts()
		var out []testutil.AlertmanagerAlert
		for _, a := range all {
			if a.Labels["alertname"] == name {
				out = append(out, a)
			}
		}
		return out, err
	}
	firing := func(name string) testutil.AlertmanagerAlert {
		t.Helper()
		var got testutil.AlertmanagerAlert
		testutil.Eventually(t, 30*time.Second, func() error {
			as, err := alerts(name)
			if err != nil || len(as) != 1 {
				return fmt.Errorf("%s: %d alerts (%w)", name, len(as), err)
			}
			got = as[0]
			return nil
		})
		return got
	}
	resolved := func(name string) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, func() error {
			as, err := alerts(name)
			if err != nil || len(as) != 0 {
				return fmt.Errorf("%s: still %d alerts (%w)", name, len(as), err)
			}
			return nil
		})
	}

	_, err := primary.DB.Exec(`CREATE TABLE ticks (at timestamptz DEFAULT now())`)
	require.NoError(t, err)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the primary keeps writing
		defer close(done)
		for {
			_, _ = primary.DB.Exec(`INSERT INTO ticks DEFAULT VALUES`)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-done }()

	time.Sleep(2 * time.Second)
	as, err := alerts("PostgresReplicaLagging")
	require.NoError(t, err)
	require.Empty(t, as, "a replica that keeps up does not alert")

	// The replica's own log: a real ERROR line of its server (a query on a table that does not
	// exist), shipped with the replica's identity as an agent ships a pod's logs; the primary's
	// warnings too. The alert about the replica carries the replica's lines only.
	_, err = replica.DB.Exec(`SELECT * FROM replica_evidence_probe`)
	require.Error(t, err)
	var replicaLine string
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, l := range strings.Split(replica.Proc.Output(), "\n") {
			if strings.Contains(l, "ERROR:") && strings.Contains(l, "replica_evidence_probe") {
				replicaLine = strings.TrimSpace(l)
				return nil
			}
		}
		return fmt.Errorf("no ERROR line in the replica's log yet")
	})
	shipPostgresLog(t, aio.httpAddr, fmt.Sprintf("127.0.0.1:%d", replica.Port), replicaLine)
	shipPostgresLog(t, aio.httpAddr, fmt.Sprintf("127.0.0.1:%d", primary.Port), "WARNING:  the primary's own warning")

	_, err = replica.DB.Exec(`SELECT pg_wal_replay_pause()`)
	require.NoError(t, err)
	a := firing("PostgresReplicaLagging")
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", replica.Port), a.Labels["instance"])
	require.Equal(t, "postgresql", a.Labels["job"])
	require.Equal(t, "e2e", a.Labels["cluster"])
	require.Contains(t, a.Annotations["vigil_logs"], replicaLine, "the replica's own last log lines")
	require.NotContains(t, a.Annotations["vigil_logs"], "the primary's own warning")
	_, err = replica.DB.Exec(`SELECT pg_wal_replay_resume()`)
	require.NoError(t, err)
	resolved("PostgresReplicaLagging")

	// The Redis replica loses its master (pointed at a port where nothing listens), then gets it back.
	_, err = redisReplica.Do("REPLICAOF", "127.0.0.1", fmt.Sprint(testutil.FreePort(t)))
	require.NoError(t, err)
	a = firing("RedisReplicaLinkDown")
	require.Equal(t, redisReplica.Addr, a.Labels["instance"])
	host, port, _ := strings.Cut(master.Addr, ":")
	_, err = redisReplica.Do("REPLICAOF", host, port)
	require.NoError(t, err)
	resolved("RedisReplicaLinkDown")
}

// shipPostgresLog sends a PostgreSQL server log line over OTLP/HTTP with the identity the
// replication receiver gives the server's metrics (service.name postgresql, service.instance.id
// host:port) and the severity of its level prefix.
func shipPostgresLog(t *testing.T, endpoint, instance, line string) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(endpoint), otlploghttp.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)), sdklog.WithResource(
		resource.NewSchemaless(attribute.String("service.name", "postgresql"), attribute.String("service.instance.id", instance))))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	sev := otellog.SeverityWarn
	if strings.Contains(line, "ERROR:") {
		sev = otellog.SeverityError
	}
	rec.SetSeverity(sev)
	rec.SetBody(attribute.StringValue(line))
	lp.Logger("postgresql").Emit(ctx, rec)
	require.NoError(t, lp.Shutdown(ctx), "the SDK must deliver the record")
}
