package replicationreceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// pgWriter inserts into the primary every 50ms until the test ends, so that WAL keeps flowing.
func pgWriter(t *testing.T, primary *testutil.PostgreSQL) {
	t.Helper()
	_, err := primary.DB.Exec(`CREATE TABLE IF NOT EXISTS ticks (at timestamptz DEFAULT now())`)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _ = primary.DB.ExecContext(ctx, `INSERT INTO ticks DEFAULT VALUES`)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// A real PostgreSQL primary and streaming replica: replay paused on the replica makes
// pg_replication_lag_seconds grow while the primary keeps writing; resumed, it drops to 0.
func TestPostgreSQLReplicationLag(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped with -short")
	}
	primary := testutil.StartPostgreSQL(t)
	replica := primary.StartReplica(t)
	pgWriter(t, primary)

	sink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig()
	cfg.CollectionInterval, cfg.Timeout = 250*time.Millisecond, 250*time.Millisecond
	cfg.PostgreSQL = []PostgreSQLTarget{{DSN: configopaque.String(primary.DSN), Instance: "primary"}, {DSN: configopaque.String(replica.DSN)}}
	startReceiver(t, cfg, sink)
	replicaInstance := fmt.Sprintf("127.0.0.1:%d", replica.Port)

	wantValue(t, sink, "pg_up", "primary", 1)
	wantValue(t, sink, "pg_replication_is_replica", "primary", 0)
	wantValue(t, sink, "pg_replication_is_replica", replicaInstance, 1)
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, p := range newest(sink, "pg_stat_replication_pg_wal_lsn_diff") {
			if p.instance == "primary" && p.attrs["state"] == "streaming" && p.attrs["client_addr"] == "127.0.0.1" {
				return nil
			}
		}
		return fmt.Errorf("no streaming replica seen by the primary: %v", newest(sink, "pg_stat_replication_pg_wal_lsn_diff"))
	})

	_, err := replica.DB.Exec(`SELECT pg_wal_replay_pause()`)
	require.NoError(t, err)
	testutil.Eventually(t, 15*time.Second, func() error {
		lag, err := valueOf(sink, "pg_replication_lag_seconds", replicaInstance)
		if err != nil {
			return err
		}
		if lag < 2 {
			return fmt.Errorf("lag %vs", lag)
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, p := range newest(sink, "pg_stat_replication_pg_wal_lsn_diff") {
			if p.instance == "primary" && p.value > 0 {
				return nil
			}
		}
		return fmt.Errorf("the primary sees no replica behind")
	})

	_, err = replica.DB.Exec(`SELECT pg_wal_replay_resume()`)
	require.NoError(t, err)
	testutil.Eventually(t, 15*time.Second, func() error {
		lag, err := valueOf(sink, "pg_replication_lag_seconds", replicaInstance)
		if err != nil {
			return err
		}
		if lag > 1 {
			return fmt.Errorf("lag still %vs", lag)
		}
		return nil
	})
}
