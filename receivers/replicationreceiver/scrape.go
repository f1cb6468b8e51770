package replicationreceiver

import (
	"github.com/redis/go-redis/v9"

	"context"
	"database/sql"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// batch builds the metrics of one target: a resource with job and instance, gauges in one scope.
type batch struct {
	ms pmetric.MetricSlice
	ts pcommon.Timestamp
}

func newBatch(md pmetric.Metrics, job, instance string, now time.Time) batch {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", job)
	rm.Resource().Attributes().PutStr("service.instance.id", instance)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/vigil-obs/vigil/receivers/replicationreceiver")
	return batch{ms: sm.Metrics(), ts: pcommon.NewTimestampFromTime(now)}
}

// gauge adds one data point; attrs are name, value pairs. Units are left empty so that the
// Prometheus names stay exactly the exporters' (no unit suffix is added).
func (b batch) gauge(name string, v float64, attrs ...string) {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(b.ts)
	dp.SetDoubleValue(v)
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newRedisClient is the client of one Redis target, kept across scrapes: one connection, made at
// the first scrape and made again after it breaks.
func newRedisClient(t RedisTarget) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: t.Endpoint, Password: string(t.Password), Protocol: 2,
		MaxRetries: -1, PoolSize: 1, DisableIdentity: true, ContextTimeoutEnabled: true,
	})
}

// scrapeRedis reads INFO replication from one Redis server.
func scrapeRedis(ctx context.Context, c *redis.Client, t RedisTarget, b batch) error {
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("cannot read INFO replication of redis %s: %w", t.Endpoint, err)
	}
	r, err := parseRedisReplication(text)
	if err != nil {
		return fmt.Errorf("redis %s: %w", t.Endpoint, err)
	}
	b.gauge("redis_master_repl_offset", r.MasterReplOffset)
	if r.Role == "master" {
		b.gauge("redis_connected_slaves", float64(len(r.Replicas)))
		for _, rp := range r.Replicas {
			attrs := []string{"slave_ip", rp.IP, "slave_port", rp.Port, "slave_state", rp.State}
			b.gauge("redis_connected_slave_offset_bytes", rp.Offset, attrs...)
			b.gauge("redis_connected_slave_lag_seconds", rp.Lag, attrs...)
		}
		return nil
	}
	b.gauge("redis_master_link_up", boolf(r.MasterLinkUp))
	b.gauge("redis_slave_repl_offset", r.SlaveReplOffset)
	b.gauge("redis_master_last_io_seconds_ago", r.MasterLastIOSecsAgo)
	b.gauge("redis_master_sync_in_progress", boolf(r.MasterSyncInProgress))
	return nil
}

// The replica's lag as postgres_exporter computes it: 0 on a primary, and 0 when everything
// received has been replayed (an idle primary is not lag).
const pgLagQuery = `SELECT pg_is_in_recovery(),
  CASE WHEN NOT pg_is_in_recovery() THEN 0
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())))
  END`

// On a primary: how many bytes of WAL each replica has not yet replayed.
const pgReplicasQuery = `SELECT application_name, COALESCE(host(client_addr), ''), state,
  COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)
  FROM pg_stat_replication`

// scrapePostgreSQL reads the replication state of one PostgreSQL server.
func scrapePostgreSQL(ctx context.Context, db *sql.DB, b batch) error {
	var (
		replica bool
		lag     float64
	)
	if err := db.QueryRowContext(ctx, pgLagQuery).Scan(&replica, &lag); err != nil {
		return fmt.Errorf("cannot query replication lag: %w", err)
	}
	b.gauge("pg_replication_is_replica", boolf(replica))
	b.gauge("pg_replication_lag_seconds", lag)
	if replica {
		return nil
	}
	rows, err := db.QueryContext(ctx, pgReplicasQuery)
	if err != nil {
		return fmt.Errorf("cannot query pg_stat_replication: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			app, addr, state string
			behind           float64
		)
		if err := rows.Scan(&app, &addr, &state, &behind); err != nil {
			return fmt.Errorf("cannot read pg_stat_replication: %w", err)
		}
		b.gauge("pg_stat_replication_pg_wal_lsn_diff", behind, "application_name", app, "client_addr", addr, "state", state)
	}
	return rows.Err()
}
