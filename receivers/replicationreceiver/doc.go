// Package replicationreceiver scrapes replication state straight from PostgreSQL
// (pg_is_in_recovery, pg_last_xact_replay_timestamp, pg_stat_replication) and Redis
// (INFO replication), so that the built-in replication-lag rules work without exporters. Metrics
// carry the names of postgres_exporter and redis_exporter (pg_replication_lag_seconds,
// redis_master_link_up, redis_connected_slave_offset_bytes, ...), with job and instance as
// service.name and service.instance.id.
package replicationreceiver
