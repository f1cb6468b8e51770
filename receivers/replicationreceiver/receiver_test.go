package replicationreceiver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// point is a data point of the newest batch: its instance, attributes and value.
type point struct {
	instance string
	attrs    map[string]string
	value    float64
}

// newest returns the data points named name in the newest batch of the sink.
func newest(sink *consumertest.MetricsSink, name string) []point {
	all := sink.AllMetrics()
	if len(all) == 0 {
		return nil
	}
	var out []point
	md := all[len(all)-1]
	for _, rm := range md.ResourceMetrics().All() {
		inst, _ := rm.Resource().Attributes().Get("service.instance.id")
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != name || m.Type() != pmetric.MetricTypeGauge {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					attrs := map[string]string{}
					for k, v := range dp.Attributes().All() {
						attrs[k] = v.AsString()
					}
					out = append(out, point{inst.AsString(), attrs, dp.DoubleValue()})
				}
			}
		}
	}
	return out
}

func valueOf(sink *consumertest.MetricsSink, name, instance string) (float64, error) {
	for _, p := range newest(sink, name) {
		if p.instance == instance {
			return p.value, nil
		}
	}
	return 0, fmt.Errorf("no %s of %s in the newest batch", name, instance)
}

func startReceiver(t *testing.T, cfg *Config, sink *consumertest.MetricsSink) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
}

func wantValue(t *testing.T, sink *consumertest.MetricsSink, name, instance string, want float64) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		v, err := valueOf(sink, name, instance)
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("%s of %s = %v, want %v", name, instance, v, want)
		}
		return nil
	})
}

// A real Redis master and replica: the replica's link, the master's view of its replica, and
// the link going down when the master stops.
func TestRedisReplication(t *testing.T) {
	master := testutil.StartRedis(t, "")
	replica := testutil.StartRedis(t, master.Addr)
	testutil.Eventually(t, 15*time.Second, func() error {
		info, err := replica.Do("INFO", "replication")
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica not linked yet: %w", err)
		}
		return nil
	})
	_, err := master.Do("SET", "k", strings.Repeat("x", 1000))
	require.NoError(t, err)

	sink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig()
	cfg.CollectionInterval, cfg.Timeout = 200*time.Millisecond, 200*time.Millisecond
	cfg.Redis = []RedisTarget{{Endpoint: master.Addr, Instance: "master"}, {Endpoint: replica.Addr}}
	startReceiver(t, cfg, sink)

	wantValue(t, sink, "redis_up", "master", 1)
	wantValue(t, sink, "redis_master_link_up", replica.Addr, 1)
	wantValue(t, sink, "redis_connected_slaves", "master", 1)
	testutil.Eventually(t, 10*time.Second, func() error {
		off, err := valueOf(sink, "redis_master_repl_offset", "master")
		if err != nil {
			return err
		}
		for _, p := range newest(sink, "redis_connected_slave_offset_bytes") {
			if p.attrs["slave_port"] == fmt.Sprint(replica.Port) && p.attrs["slave_state"] == "online" && p.value == off && off > 1000 {
				return nil
			}
		}
		return fmt.Errorf("master offset %v not acknowledged by the replica yet: %v", off, newest(sink, "redis_connected_slave_offset_bytes"))
	})

	// The receiver keeps its connection across scrapes: over ~5 scrapes the replica accepts
	// only the test's own INFO connections.
	before := connectionsReceived(t, replica)
	time.Sleep(5 * cfg.CollectionInterval)
	require.LessOrEqual(t, connectionsReceived(t, replica)-before, 1, "a new connection per scrape")

	_, err = master.Proc.Stop(10 * time.Second)
	require.NoError(t, err)
	wantValue(t, sink, "redis_up", "master", 0)
	wantValue(t, sink, "redis_master_link_up", replica.Addr, 0)
	_, err = valueOf(sink, "redis_master_repl_offset", "master")
	require.Error(t, err, "a target that cannot be read reports only redis_up")
}

func TestConfigErrors(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.CollectionInterval, cfg.Timeout = time.Millisecond, time.Second
	cfg.PostgreSQL = []PostgreSQLTarget{{DSN: "host=x user=y"}}
	cfg.Redis = []RedisTarget{{Endpoint: "localhost"}}
	require.EqualError(t, cfg.Validate(), `collection_interval: "1ms" must be at least 100ms
timeout: "1s" must be positive and at most collection_interval
postgresql[0].dsn: must be a URL postgres://user@host:port/database?sslmode=... (the password is not shown)
redis[0].endpoint: "localhost" must be host:port`)
	require.EqualError(t, createDefaultConfig().Validate(), "postgresql, redis: list at least one server to scrape")
}

// A Redis that requires a password: scraped with it, and a wrong one reported (not logged).
func TestRedisWithPassword(t *testing.T) {
	r := testutil.StartRedis(t, "")
	_, err := r.Do("CONFIG", "SET", "requirepass", "s3cret-for-the-test")
	require.NoError(t, err)
	r.Password = "s3cret-for-the-test"
	info, err := r.Do("INFO", "replication")
	require.NoError(t, err)
	require.Contains(t, info, "role:master")

	sink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig()
	cfg.CollectionInterval, cfg.Timeout = 300*time.Millisecond, 300*time.Millisecond
	cfg.Redis = []RedisTarget{{Endpoint: r.Addr, Instance: "good", Password: "s3cret-for-the-test"}, {Endpoint: r.Addr, Instance: "bad", Password: "wrong-password"}}
	startReceiver(t, cfg, sink)
	wantValue(t, sink, "redis_up", "good", 1)
	wantValue(t, sink, "redis_master_repl_offset", "good", 0)
	wantValue(t, sink, "redis_up", "bad", 0)

	bad := RedisTarget{Endpoint: r.Addr, Password: "wrong-password"}
	c := newRedisClient(bad)
	defer c.Close()
	err = scrapeRedis(context.Background(), c, bad, newBatch(pmetric.NewMetrics(), "redis", "bad", time.Now()))
	require.ErrorContains(t, err, "cannot read INFO replication of redis "+r.Addr)
	require.ErrorContains(t, err, "WRONGPASS")
	require.NotContains(t, err.Error(), "wrong-password")
}

// connectionsReceived is the Redis server's total_connections_received.
func connectionsReceived(t *testing.T, r *testutil.Redis) int {
	t.Helper()
	info, err := r.Do("INFO", "stats")
	require.NoError(t, err)
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_connections_received:"); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no total_connections_received in INFO stats: %s", info)
	return 0
}
