package series

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// corpus are rule expressions of the kinds the built-in rule packs and users write. Each one is
// evaluated by Prometheus's engine over this store and over Prometheus's own TSDB head, on the
// same samples, while they stream in.
var corpus = []string{
	`rate(http_requests_total[5m])`,
	`increase(http_requests_total[10m])`,
	`sum by (job) (rate(http_requests_total[5m]))`,
	`resets(http_requests_total[30m])`,
	`http_requests_total offset 10m`,
	`predict_linear(node_filesystem_avail_bytes[1h], 4 * 3600) < 0`,
	`predict_linear(node_filesystem_avail_bytes[30m], 3600)`,
	`deriv(node_filesystem_avail_bytes[15m])`,
	`avg_over_time(pg_replication_lag_seconds[5m])`,
	`max_over_time(pg_replication_lag_seconds[10m])`,
	`min_over_time(pg_replication_lag_seconds[2m])`,
	`quantile_over_time(0.9, pg_replication_lag_seconds[10m])`,
	`last_over_time(pg_replication_lag_seconds[5m])`,
	`pg_replication_lag_seconds > 30`,
	`pg_replication_lag_seconds > bool 30`,
	`sum by (instance) (pg_replication_lag_seconds) >= bool 20`,
	`avg without (instance) (pg_replication_lag_seconds)`,
	`topk(1, pg_replication_lag_seconds)`,
	`max by (job) (pg_replication_lag_seconds) / on (job) group_left max by (job) (up)`,
	`absent(up{job="missing"})`,
	`absent(up{job="pg"})`,
	`absent_over_time(up{instance="b"}[2m])`,
	`up == 0`,
	`replica_up == 0`,
	`absent(replica_up{instance="b"})`,
	`up unless on (instance) pg_replication_lag_seconds`,
	`count by (job) (up)`,
	`changes(up[15m])`,
	`timestamp(up)`,
	`max_over_time(rate(http_requests_total[2m])[20m:1m])`,
	`histogram_quantile(0.99, sum by (le) (rate(rpc_duration_seconds_bucket[5m])))`,
	`count({__name__=~"pg_.*|up"})`,
}

type sample struct {
	t int64
	f float64
}

type genSeries struct {
	lset    labels.Labels
	samples []sample
}

const t0 = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z

// generate returns random series over d, one sample every ~15s (jittered): counters with resets,
// gauges, a filling disk, classic histogram buckets, and series that go stale (with a staleness
// marker, or by stopping) and come back.
func generate(r *rand.Rand, d time.Duration) []genSeries {
	var out []genSeries
	steps := int(d / (15 * time.Second))
	add := func(l labels.Labels, f func(i int, prev float64) (float64, bool)) {
		s := genSeries{lset: l}
		prev, t := 0.0, t0
		for i := range steps {
			t += 15_000 + int64(r.IntN(4000)) - 2000
			v, ok := f(i, prev)
			if !ok {
				continue
			}
			s.samples = append(s.samples, sample{t, v})
			if !value.IsStaleNaN(v) {
				prev = v
			}
		}
		out = append(out, s)
	}
	for _, inst := range []string{"a", "b", "c"} {
		for _, job := range []string{"api", "web"} {
			add(labels.FromStrings("__name__", "http_requests_total", "job", job, "instance", inst), func(_ int, prev float64) (float64, bool) {
				if r.IntN(60) == 0 {
					return float64(r.IntN(5)), true // counter reset
				}
				return prev + float64(r.IntN(100)), true
			})
		}
		add(labels.FromStrings("__name__", "pg_replication_lag_seconds", "job", "pg", "instance", inst), func(i int, _ float64) (float64, bool) {
			if inst == "a" && i > 300 && i < 340 {
				return 0, false // replica gone for 10m
			}
			return math.Round(r.ExpFloat64()*20*100) / 100, r.IntN(10) != 0 // some scrapes missed
		})
		avail := 3e7 * (1 + r.Float64())
		rate := 1e5 * (0.5 + r.Float64())
		add(labels.FromStrings("__name__", "node_filesystem_avail_bytes", "instance", inst, "mountpoint", "/data"), func(int, float64) (float64, bool) {
			avail = max(avail-rate*(0.5+r.Float64()), 0)
			return avail, true
		})
		add(labels.FromStrings("__name__", "up", "job", "pg", "instance", inst), func(i int, _ float64) (float64, bool) {
			switch {
			case inst == "b" && i%120 == 60:
				return math.Float64frombits(value.StaleNaN), true // target gone: staleness marker
			case inst == "b" && i%120 > 60 && i%120 < 90:
				return 0, false // absent
			case inst == "c" && i > steps/2 && i < steps/2+40:
				return 0, false // stops without a marker: lookback expiry
			}
			return float64(r.IntN(8) / 7), true // mostly 1, sometimes 0
		})
	}
	// Read only by instant selectors (lookback window), with gaps longer than the lookback delta.
	for _, inst := range []string{"a", "b"} {
		add(labels.FromStrings("__name__", "replica_up", "instance", inst), func(i int, _ float64) (float64, bool) {
			if i%100 > 70 {
				return 0, false
			}
			return float64(r.IntN(4) / 3), true
		})
	}
	// The metrics of the built-in rule packs.
	for _, inst := range []string{"pg-1", "pg-2"} {
		add(labels.FromStrings("__name__", "pg_replication_lag_seconds", "job", "postgres", "instance", inst), func(int, float64) (float64, bool) {
			return math.Round(r.ExpFloat64() * 25), r.IntN(20) != 0
		})
	}
	add(labels.FromStrings("__name__", "cnpg_pg_replication_lag", "job", "cnpg", "instance", "pg-1"), func(int, float64) (float64, bool) {
		return math.Round(r.ExpFloat64() * 25), true // same instance as postgres_exporter's: "or" keeps one
	})
	// Positions of a primary, computed first: generators run one series after the other.
	walk := func(maxStep int) []float64 {
		p, x := make([]float64, steps), 0.0
		for i := range p {
			x += float64(r.IntN(maxStep))
			p[i] = x
		}
		return p
	}
	pos := walk(20 << 20)
	for _, n := range []string{"pg-0", "pg-1", "pg-2"} {
		add(labels.FromStrings("__name__", "patroni_replica", "scope", "pg", "name", n), func(int, float64) (float64, bool) {
			return map[bool]float64{true: 0, false: 1}[n == "pg-0"], true
		})
		add(labels.FromStrings("__name__", "patroni_xlog_location", "scope", "pg", "name", n), func(i int, _ float64) (float64, bool) {
			return map[bool]float64{true: pos[i], false: 0}[n == "pg-0"], true
		})
		replayed := 0.0
		add(labels.FromStrings("__name__", "patroni_xlog_replayed_location", "scope", "pg", "name", n), func(i int, _ float64) (float64, bool) {
			if n != "pg-0" && r.IntN(12) == 0 {
				replayed = pos[i]
			}
			return replayed, true
		})
	}
	off := walk(8 << 20)
	add(labels.FromStrings("__name__", "redis_master_repl_offset", "instance", "r0"), func(i int, _ float64) (float64, bool) {
		return off[i], true
	})
	acked := 0.0
	add(labels.FromStrings("__name__", "redis_connected_slave_offset_bytes", "instance", "r0", "slave_ip", "10.0.0.2", "slave_port", "6379"), func(i int, _ float64) (float64, bool) {
		if r.IntN(4) > 0 {
			acked = off[i]
		}
		return acked, true
	})
	add(labels.FromStrings("__name__", "redis_master_link_up", "instance", "r1"), func(int, float64) (float64, bool) {
		return float64(min(r.IntN(10), 1)), true
	})
	for _, fstype := range []string{"ext4", "tmpfs"} {
		free, inodes := 2e7*(1+r.Float64()), 1e5*(1+r.Float64())
		add(labels.FromStrings("__name__", "node_filesystem_avail_bytes", "instance", "n1", "mountpoint", "/"+fstype, "fstype", fstype), func(int, float64) (float64, bool) {
			free = max(free-1e5*r.Float64(), 0)
			return free, true
		})
		add(labels.FromStrings("__name__", "node_filesystem_files_free", "instance", "n1", "mountpoint", "/"+fstype, "fstype", fstype), func(int, float64) (float64, bool) {
			inodes = max(inodes-float64(r.IntN(40)), 0)
			return inodes, true
		})
	}
	// kube-state-metrics: three nodes, requests that wander around what two nodes can hold.
	for _, res := range []string{"memory", "cpu"} {
		size := map[string]float64{"memory": 16 << 30, "cpu": 4}[res]
		for _, node := range []string{"n1", "n2", "n3"} {
			add(labels.FromStrings("__name__", "kube_node_status_allocatable", "node", node, "resource", res), func(int, float64) (float64, bool) {
				return size, true
			})
			req := size * 0.65
			add(labels.FromStrings("__name__", "kube_pod_container_resource_requests", "node", node, "pod", "p-"+node, "resource", res), func(int, float64) (float64, bool) {
				req = max(req+size*(r.Float64()-0.45)/20, 0)
				return req, true
			})
		}
	}
	pvc := 1e7 * (1 + r.Float64())
	add(labels.FromStrings("__name__", "kubelet_volume_stats_available_bytes", "namespace", "db", "persistentvolumeclaim", "data-0"), func(int, float64) (float64, bool) {
		pvc = max(pvc-4e4*r.Float64(), 0)
		return pvc, true
	})
	var cum [4]float64
	for j, le := range []string{"0.1", "0.5", "1", "+Inf"} {
		add(labels.FromStrings("__name__", "rpc_duration_seconds_bucket", "job", "api", "le", le), func(i int, _ float64) (float64, bool) {
			if j == 0 {
				cum[0] += float64(r.IntN(10))
				for k := 1; k < 4; k++ {
					cum[k] = cum[k-1] + float64(r.IntN(10)) + cum[k] - cum[k-1]
				}
			}
			return cum[j] + float64(i*j), true
		})
	}
	// Last: series added here do not change the random values of those above.
	// RabbitMQ: a quorum queue per vhost on three nodes (per-object names in vhost a, detailed
	// names in vhost b); followers apply in bursts, so they fall behind and catch up.
	for _, vhost := range []string{"a", "b"} {
		prefix := map[string]string{"a": "rabbitmq_raft_log_", "b": "rabbitmq_detailed_raft_log_"}[vhost]
		commit := walk(8000)
		for _, node := range []string{"rabbit-0", "rabbit-1", "rabbit-2"} {
			applied := 0.0
			add(labels.FromStrings("__name__", prefix+"last_applied_index", "instance", node, "vhost", vhost, "queue", "orders"), func(i int, _ float64) (float64, bool) {
				if node == "rabbit-0" || r.IntN(6) == 0 {
					applied = commit[i]
				}
				return applied, true
			})
			add(labels.FromStrings("__name__", prefix+"commit_index", "instance", node, "vhost", vhost, "queue", "orders"), func(i int, _ float64) (float64, bool) {
				return map[bool]float64{true: commit[i], false: applied}[node == "rabbit-0"], true
			})
		}
	}
	for _, q := range []string{"legacy", "steady"} {
		add(labels.FromStrings("__name__", "rabbitmq_queue_slave_nodes_len", "instance", "rmq-exporter", "vhost", "/", "queue", q), func(int, float64) (float64, bool) {
			return 2, true
		})
		add(labels.FromStrings("__name__", "rabbitmq_queue_synchronised_slave_nodes_len", "instance", "rmq-exporter", "vhost", "/", "queue", q), func(int, float64) (float64, bool) {
			return float64(2 - min(r.IntN(3), 1)*map[bool]int{true: 1, false: 0}[q == "legacy"]), true
		})
	}
	return out
}

type timedSample struct {
	l labels.Labels
	sample
}

func TestDifferentialAgainstPrometheusTSDB(t *testing.T) {
	exprs := append(slices.Clone(corpus), builtinExprs(t)...)
	seeds, d := uint64(2), 2*time.Hour
	if testing.Short() {
		seeds = 1
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { differential(t, seed, d, exprs) })
	}
}

// builtinExprs are the expressions of every rule of the built-in rule packs, and for an alert
// of the form "X > threshold" also X, so that the comparison is checked on values that exist.
func builtinExprs(t *testing.T) []string {
	t.Helper()
	files, err := rulefiles.Load([]string{filepath.Join("..", "..", "deploy", "rules", "*.yaml")})
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				out = append(out, r.Expr)
				e, err := rulefiles.Parser.ParseExpr(r.Expr)
				require.NoError(t, err)
				if b, ok := e.(*parser.BinaryExpr); ok && b.Op.IsComparisonOperator() {
					out = append(out, b.LHS.String())
				}
			}
		}
	}
	require.Greater(t, len(out), 15)
	return out
}

func differential(t *testing.T, seed uint64, d time.Duration, corpus []string) {
	r := rand.New(rand.NewPCG(seed, 42))
	var all []timedSample
	for _, s := range generate(r, d) {
		for _, x := range s.samples {
			all = append(all, timedSample{s.lset, x})
		}
	}
	slices.SortStableFunc(all, func(a, b timedSample) int { return cmpInt(a.t, b.t) })

	tsdb := teststorage.New(t)
	store := storeFor(t, 1000, nil, corpus...)
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: rulefiles.Parser})
	ctx := context.Background()

	next, evals := 0, 0
	nonEmpty := map[string]int{}
	for ts := t0 + 60_000; ts <= t0+d.Milliseconds(); ts += 15_000 + int64(r.IntN(15_000)) {
		ref, mine := tsdb.Appender(ctx), store.NewAppender()
		for ; next < len(all) && all[next].t <= ts; next++ {
			x := all[next]
			_, err := ref.Append(0, x.l, x.t, x.f)
			require.NoError(t, err)
			mustAppend(t, mine, x.l, x.t, x.f)
		}
		require.NoError(t, ref.Commit())
		store.GC(ts)
		for _, expr := range corpus {
			want := eval(t, eng, tsdb, expr, ts)
			got := eval(t, eng, store, expr, ts)
			if d := diff(want, got); d != "" {
				t.Fatalf("%s at %s: %s", expr, time.UnixMilli(ts).UTC(), d)
			}
			if len(want) > 0 {
				nonEmpty[expr]++
			}
			evals++
		}
	}
	// The store kept only the windows, not everything.
	require.Less(t, store.Stats().Samples, len(all)/4)
	// Every expression produced a result at some point (except those that must stay empty):
	// equal empty results alone would prove little.
	for _, expr := range corpus {
		if expr != `absent(up{job="pg"})` && !strings.Contains(expr, "> 300") {
			require.Positive(t, nonEmpty[expr], "%s never had a result", expr)
		}
	}
	t.Logf("%d evaluations equal; store holds %d series, %d samples", evals, store.Stats().Series, store.Stats().Samples)
}

// result is an instant query's result in canonical form: series sorted by labels.
type result []promql.Sample

// eval evaluates an instant query; a scalar becomes one sample without labels.
func eval(t *testing.T, eng *promql.Engine, q storage.Queryable, expr string, ts int64) result {
	t.Helper()
	qry, err := eng.NewInstantQuery(context.Background(), q, nil, expr, time.UnixMilli(ts))
	require.NoError(t, err)
	defer qry.Close()
	res := qry.Exec(context.Background())
	require.NoError(t, res.Err, expr)
	switch v := res.Value.(type) {
	case promql.Vector:
		out := result(slices.Clone(v))
		slices.SortFunc(out, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
		return out
	case promql.Scalar:
		return result{{T: v.T, F: v.V}}
	}
	t.Fatalf("%s: unexpected result type %s", expr, res.Value.Type())
	return nil
}

// diff returns "" when the results are equal: same series, timestamps and values. Values are
// equal when their bits are, when both are NaN, or when they differ by at most 1e-12 relative:
// aggregations add in the order series come from storage, which is not part of PromQL's
// semantics (Prometheus's own promqltest compares with a tolerance of 1e-6).
func diff(want, got result) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d series, want %d:\nwant %v\ngot  %v", len(got), len(want), want, got)
	}
	for i := range want {
		w, g := want[i], got[i]
		if !labels.Equal(w.Metric, g.Metric) || w.T != g.T || !floatEqual(w.F, g.F) {
			return fmt.Sprintf("series %d: want %s, got %s", i, w, g)
		}
	}
	return ""
}

func floatEqual(a, b float64) bool {
	switch {
	case math.Float64bits(a) == math.Float64bits(b), math.IsNaN(a) && math.IsNaN(b):
		return true
	case math.IsInf(a, 0) || math.IsInf(b, 0) || math.IsNaN(a) || math.IsNaN(b):
		return false
	}
	return math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b))
}
