package rules_test

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	rules "github.com/vigil-obs/vigil/deploy/rules"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

func packFiles(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(rules.FS(), "*.yaml")
	require.NoError(t, err)
	require.Equal(t, []string{"capacity.yaml", "replication.yaml"}, names)
	return names
}

// TestPacksAreValidAndDocumented: every pack parses with Prometheus's parser, and every alert
// has a severity, a summary and a one-line runbook.
func TestPacksAreValidAndDocumented(t *testing.T) {
	alerts := 0
	for _, name := range packFiles(t) {
		f, errs := rulefiles.Parse(name)
		require.Empty(t, errs, name)
		for _, g := range f.Groups {
			require.True(t, strings.HasPrefix(g.Name, "vigil-"), "group %q: built-in groups are named vigil-*", g.Name)
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				alerts++
				require.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
				require.NotEmpty(t, r.Annotations["summary"], r.Alert)
				rb := r.Annotations["runbook"]
				require.NotEmpty(t, rb, r.Alert)
				require.NotContains(t, rb, "\n", "%s: the runbook is one line", r.Alert)
			}
		}
	}
	require.Equal(t, 14, alerts)
}

// gen is one series of a scenario: its value at each minute (false: no sample).
type gen struct {
	lset  labels.Labels
	value func(minute int) (float64, bool)
}

func always(f func(m int) float64) func(int) (float64, bool) {
	return func(m int) (float64, bool) { return f(m), true }
}

func lbls(kv ...string) labels.Labels { return labels.FromStrings(kv...) }

// firing is what a scenario observed: for each alert (alertname and the distinguishing label),
// the minute it first fired and the minute it was first sent resolved (-1: never).
type firing struct {
	fired, resolved int
	annotations     labels.Labels
}

// run evaluates every built-in group once a minute over the series store, as the alert exporter
// does, and records what is sent to Alertmanager.
func run(t *testing.T, minutes int, gens []gen) map[string]*firing {
	t.Helper()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var store *series.Store
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: rulefiles.Parser})
	minute := 0
	seen := map[string]*firing{}
	opts := &promrules.ManagerOptions{
		QueryFunc: func(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
			return promrules.EngineQueryFunc(eng, store)(ctx, q, ts)
		},
		NotifyFunc: func(_ context.Context, _ string, alerts ...*promrules.Alert) {
			for _, a := range alerts {
				k := alertKey(a.Labels)
				f := seen[k]
				if f == nil {
					f = &firing{fired: -1, resolved: -1}
					seen[k] = f
				}
				if a.State == promrules.StateFiring && f.fired < 0 {
					f.fired, f.annotations = minute, a.Annotations
				}
				if a.State == promrules.StateInactive && f.resolved < 0 {
					f.resolved = minute
				}
			}
		},
		Appendable:  appendableFunc(func(ctx context.Context) storage.Appender { return store.Appender(ctx) }),
		Queryable:   storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) { return store.Querier(mint, maxt) }),
		Parser:      rulefiles.Parser,
		GroupLoader: rulefiles.Loader{},
	}
	var packs []string
	for _, name := range packFiles(t) {
		packs = append(packs, rulefiles.BuiltinPrefix+name) // as the exporter loads them, from the binary
	}
	byKey, errs := promrules.NewManager(opts).LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, packs...)
	require.Empty(t, errs)
	var needs []series.Need
	groups := slices.Collect(maps.Values(byKey))
	for i, g := range groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*promrules.AlertingRule); ok {
				ar.SetRestored(true)
			}
			n, err := series.NeedsOf(r.Query(), 5*time.Minute, g.QueryOffset(), i)
			require.NoError(t, err)
			needs = append(needs, n...)
		}
	}
	var err error
	store, err = series.NewStore(series.Options{Needs: needs, MaxSeries: 1000})
	require.NoError(t, err)
	app := store.NewAppender()
	for minute = 0; minute <= minutes; minute++ {
		ts := start.Add(time.Duration(minute) * time.Minute)
		for _, g := range gens {
			if v, ok := g.value(minute); ok {
				_, err := app.Append(0, g.lset, ts.UnixMilli(), v)
				require.NoError(t, err)
			}
		}
		for _, g := range groups {
			g.Eval(context.Background(), ts)
		}
	}
	return seen
}

type appendableFunc func(context.Context) storage.Appender

func (f appendableFunc) Appender(ctx context.Context) storage.Appender { return f(ctx) }

// alertKey is the alert name and the label that tells its instances apart.
func alertKey(l labels.Labels) string {
	for _, n := range []string{"instance", "persistentvolumeclaim", "name", "slave_ip"} {
		if v := l.Get(n); v != "" {
			return fmt.Sprintf("%s[%s]", l.Get("alertname"), v)
		}
	}
	return l.Get("alertname")
}

const gib = float64(1 << 30)

// quorumQueue is queue "orders" in vhost a (per-object metric names) and vhost b (detailed names)
// on three nodes, rabbit-0 leading; see the scenario for who falls behind when.
func quorumQueue() []gen {
	var gens []gen
	nodes := []string{"rabbit-0", "rabbit-1", "rabbit-2"}
	for _, node := range nodes {
		for _, vhost := range []string{"a", "b"} {
			prefix := "rabbitmq_raft_log_"
			if vhost == "b" {
				prefix = "rabbitmq_detailed_raft_log_"
			}
			applied := func(m int) float64 {
				switch {
				case vhost == "a" && node == "rabbit-2" && m >= 10 && m < 30:
					return 10 * 5000
				case vhost == "b" && node == "rabbit-1" && m >= 20:
					return float64(m*5000 - 20000)
				case vhost == "b" && node == "rabbit-2":
					return float64(m*5000 - 5000)
				}
				return float64(m * 5000)
			}
			commit := func(m int) float64 {
				if node == "rabbit-0" {
					return float64(m * 5000)
				}
				return applied(m) // a follower knows the commit index up to what it has
			}
			gens = append(gens,
				gen{lbls("__name__", prefix+"commit_index", "instance", node, "vhost", vhost, "queue", "orders"), always(commit)},
				gen{lbls("__name__", prefix+"last_applied_index", "instance", node, "vhost", vhost, "queue", "orders"), always(applied)},
			)
		}
	}
	return gens
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name    string
		minutes int
		gens    []gen
		// want: alert key -> minute first fired, minute first resolved (-1: not in the run).
		// Nothing else may fire.
		want map[string][2]int
	}{
		{
			name: "disk fills at hour 30", minutes: 1600,
			gens: []gen{
				// 100 GiB, empty after 1800.5 minutes: the 24h prediction crosses zero after minute
				// 360 (+30m for), the 4h one after minute 1560 (+10m for).
				{lbls("__name__", "node_filesystem_avail_bytes", "instance", "n1", "mountpoint", "/data", "fstype", "ext4"),
					always(func(m int) float64 { return 100 * gib * (1800.5 - float64(m)) / 1800.5 })},
				// Steady, and a tmpfs that fills fast: neither alerts.
				{lbls("__name__", "node_filesystem_avail_bytes", "instance", "n2", "mountpoint", "/data", "fstype", "xfs"),
					always(func(int) float64 { return 50 * gib })},
				{lbls("__name__", "node_filesystem_avail_bytes", "instance", "n1", "mountpoint", "/run", "fstype", "tmpfs"),
					always(func(m int) float64 { return max(gib-float64(m)*gib/100, 0) })},
			},
			want: map[string][2]int{"FilesystemWillFillIn24h[n1]": {391, -1}, "FilesystemWillFillIn4h[n1]": {1571, -1}},
		},
		{
			name: "pvc fills in 10 hours, inodes in 25", minutes: 400,
			gens: []gen{
				{lbls("__name__", "kubelet_volume_stats_available_bytes", "namespace", "db", "persistentvolumeclaim", "data-pg-0"),
					always(func(m int) float64 { return 20 * gib * (600.5 - float64(m)) / 600.5 })},
				{lbls("__name__", "node_filesystem_files_free", "instance", "n3", "mountpoint", "/var", "fstype", "ext4"),
					always(func(m int) float64 { return 1e6 * (1500.5 - float64(m)) / 1500.5 })},
			},
			want: map[string][2]int{
				"PersistentVolumeWillFillIn24h[data-pg-0]": {31, -1}, "PersistentVolumeWillFillIn4h[data-pg-0]": {371, -1},
				"FilesystemInodesWillRunOutIn24h[n3]": {91, -1},
			},
		},
		{
			name: "requests outgrow the cluster", minutes: 40,
			gens: []gen{
				// Three nodes of 16 GiB and 4 cores; memory requests grow by 1 GiB a minute from
				// 20 GiB: over 32 GiB (all but the largest node) from minute 13, firing 10m later.
				{lbls("__name__", "kube_node_status_allocatable", "node", "n1", "resource", "memory", "unit", "byte"), always(func(int) float64 { return 16 * gib })},
				{lbls("__name__", "kube_node_status_allocatable", "node", "n2", "resource", "memory", "unit", "byte"), always(func(int) float64 { return 16 * gib })},
				{lbls("__name__", "kube_node_status_allocatable", "node", "n3", "resource", "memory", "unit", "byte"), always(func(int) float64 { return 16 * gib })},
				{lbls("__name__", "kube_node_status_allocatable", "node", "n1", "resource", "cpu", "unit", "core"), always(func(int) float64 { return 4 })},
				{lbls("__name__", "kube_node_status_allocatable", "node", "n2", "resource", "cpu", "unit", "core"), always(func(int) float64 { return 4 })},
				{lbls("__name__", "kube_node_status_allocatable", "node", "n3", "resource", "cpu", "unit", "core"), always(func(int) float64 { return 4 })},
				{lbls("__name__", "kube_pod_container_resource_requests", "namespace", "db", "pod", "pg-0", "container", "pg", "node", "n1", "resource", "memory", "unit", "byte"),
					always(func(m int) float64 { return 12 * gib })},
				{lbls("__name__", "kube_pod_container_resource_requests", "namespace", "web", "pod", "web-0", "container", "web", "node", "n2", "resource", "memory", "unit", "byte"),
					always(func(m int) float64 { return float64(8+m) * gib })},
				// CPU requests stay at 6 of the 8 cores that remain without a node.
				{lbls("__name__", "kube_pod_container_resource_requests", "namespace", "web", "pod", "web-0", "container", "web", "node", "n2", "resource", "cpu", "unit", "core"),
					always(func(int) float64 { return 6 })},
			},
			want: map[string][2]int{"KubeMemoryOvercommit": {23, -1}},
		},
		{
			name: "postgres replicas lag and recover", minutes: 60,
			gens: []gen{
				{lbls("__name__", "pg_replication_lag_seconds", "job", "postgres", "instance", "pg-1"),
					always(func(m int) float64 {
						switch {
						case m >= 10 && m < 30:
							return 60
						case m >= 30 && m < 50:
							return 600
						}
						return 2
					})},
				{lbls("__name__", "cnpg_pg_replication_lag", "job", "cnpg", "instance", "cnpg-1"),
					always(func(m int) float64 { return map[bool]float64{true: 45, false: 0}[m >= 5] })},
				{lbls("__name__", "pg_replication_lag_seconds", "job", "postgres", "instance", "pg-2"),
					always(func(int) float64 { return 29 })},
			},
			want: map[string][2]int{
				"PostgresReplicaLagging[pg-1]": {12, 50}, "PostgresReplicaLaggingCritical[pg-1]": {32, 50},
				"PostgresReplicaLagging[cnpg-1]": {7, -1},
			},
		},
		{
			name: "patroni replica stops replaying", minutes: 30,
			gens: []gen{
				{lbls("__name__", "patroni_xlog_location", "scope", "pg", "name", "pg-0"), always(func(m int) float64 { return float64(m) * 10 * (1 << 20) })},
				{lbls("__name__", "patroni_xlog_replayed_location", "scope", "pg", "name", "pg-0"), always(func(int) float64 { return 0 })},
				{lbls("__name__", "patroni_replica", "scope", "pg", "name", "pg-0"), always(func(int) float64 { return 0 })},
				{lbls("__name__", "patroni_xlog_location", "scope", "pg", "name", "pg-1"), always(func(int) float64 { return 0 })},
				{lbls("__name__", "patroni_xlog_replayed_location", "scope", "pg", "name", "pg-1"),
					always(func(m int) float64 { return float64(min(m, 5)) * 10 * (1 << 20) })},
				{lbls("__name__", "patroni_replica", "scope", "pg", "name", "pg-1"), always(func(int) float64 { return 1 })},
			},
			// Behind by 10 MiB a minute from minute 5: over 100 MiB from minute 16, firing 2m later.
			want: map[string][2]int{"PatroniReplicaLagging[pg-1]": {18, -1}},
		},
		{
			name: "redis replica loses its link, another falls behind", minutes: 30,
			gens: []gen{
				{lbls("__name__", "redis_master_link_up", "instance", "redis-1:6379"),
					always(func(m int) float64 { return map[bool]float64{true: 0, false: 1}[m >= 5 && m < 20] })},
				{lbls("__name__", "redis_master_repl_offset", "instance", "redis-0:6379"), always(func(m int) float64 { return float64(m) * 4 * (1 << 20) })},
				{lbls("__name__", "redis_connected_slave_offset_bytes", "instance", "redis-0:6379", "slave_ip", "10.0.0.2", "slave_port", "6379"),
					always(func(m int) float64 { return float64(min(m, 10)) * 4 * (1 << 20) })},
			},
			// Link down from minute 5 (for 1m), back at 20. Offsets 4 MiB apart per minute from
			// minute 10: over 10 MiB from minute 13, firing 2m later.
			want: map[string][2]int{"RedisReplicaLinkDown[redis-1:6379]": {6, 20}, "RedisReplicaLagging[redis-0:6379]": {15, -1}},
		},
		{
			name: "rabbitmq quorum members fall behind, a mirror is out of sync", minutes: 40,
			gens: append(quorumQueue(), []gen{
				// Classic mirrored queue "legacy": one of two mirrors unsynchronised from minute 5
				// to 25 (for 10m: fires at 15); "steady" stays in sync.
				{lbls("__name__", "rabbitmq_queue_slave_nodes_len", "instance", "rabbit-exporter:9419", "vhost", "/", "queue", "legacy"),
					always(func(int) float64 { return 2 })},
				{lbls("__name__", "rabbitmq_queue_synchronised_slave_nodes_len", "instance", "rabbit-exporter:9419", "vhost", "/", "queue", "legacy"),
					always(func(m int) float64 { return map[bool]float64{true: 1, false: 2}[m >= 5 && m < 25] })},
				{lbls("__name__", "rabbitmq_queue_slave_nodes_len", "instance", "rabbit-exporter:9419", "vhost", "/", "queue", "steady"),
					always(func(int) float64 { return 2 })},
				{lbls("__name__", "rabbitmq_queue_synchronised_slave_nodes_len", "instance", "rabbit-exporter:9419", "vhost", "/", "queue", "steady"),
					always(func(int) float64 { return 2 })},
			}...),
			// vhost a (per-object names): rabbit-2 stops applying at minute 10, 5,000 entries a
			// minute behind: over 10,000 from minute 13, firing 5m later; it catches up at 30.
			// vhost b (detailed names): rabbit-1 20,000 behind from minute 20, firing at 25;
			// rabbit-2 5,000 behind throughout, under the threshold.
			want: map[string][2]int{
				"RabbitMQQuorumMemberBehind[rabbit-2]": {18, 30}, "RabbitMQQuorumMemberBehind[rabbit-1]": {25, -1},
				"RabbitMQMirrorsUnsynchronised[rabbit-exporter:9419]": {15, 25},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := run(t, tc.minutes, tc.gens)
			got := map[string][2]int{}
			for k, f := range seen {
				got[k] = [2]int{f.fired, f.resolved}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestAnnotationsRender(t *testing.T) {
	seen := run(t, 20, []gen{
		{lbls("__name__", "pg_replication_lag_seconds", "instance", "pg-1"), always(func(int) float64 { return 95 })},
		{lbls("__name__", "redis_connected_slave_offset_bytes", "instance", "r0", "slave_ip", "10.0.0.9", "slave_port", "6380"),
			always(func(int) float64 { return 0 })},
		{lbls("__name__", "redis_master_repl_offset", "instance", "r0"), always(func(int) float64 { return 64 << 20 })},
	})
	require.Contains(t, seen, "PostgresReplicaLagging[pg-1]")
	require.Equal(t, "PostgreSQL replica pg-1 replays 1m 35s behind its primary",
		seen["PostgresReplicaLagging[pg-1]"].annotations.Get("summary"))
	require.Contains(t, seen, "RedisReplicaLagging[r0]")
	require.Equal(t, "Redis replica 10.0.0.9:6380 of r0 is 64MiB behind",
		seen["RedisReplicaLagging[r0]"].annotations.Get("summary"))
}
