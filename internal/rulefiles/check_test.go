package rulefiles

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Shapes of real rules (kubernetes-mixin / kube-prometheus, node-exporter mixin,
// awesome-prometheus-alerts style) that the streaming core evaluates and Check must accept.
var streamable = []string{
	`max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics"}[5m]) >= 1`,
	`sum(namespace_cpu:kube_pod_container_resource_requests:sum) - (sum(kube_node_status_allocatable{resource="cpu"}) - max(kube_node_status_allocatable{resource="cpu"})) > 0`,
	`(node_filesystem_avail_bytes{job="node-exporter",fstype!=""} / node_filesystem_size_bytes{job="node-exporter",fstype!=""} * 100 < 15
	  and predict_linear(node_filesystem_avail_bytes{job="node-exporter",fstype!=""}[6h], 4*60*60) < 0
	  and node_filesystem_readonly{job="node-exporter",fstype!=""} == 0)`,
	`histogram_quantile(0.99, sum by (le, instance) (rate(apiserver_request_duration_seconds_bucket{verb!~"WATCH|CONNECT"}[5m]))) > 4`,
	`sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05`,
	`increase(kube_pod_container_status_restarts_total[1h]) > 5 unless on (namespace, pod) kube_pod_status_phase{phase="Succeeded"} == 1`,
	`rate(http_requests_total[5m]) > 2 * rate(http_requests_total[5m] offset 1w)`,
	`max_over_time(rate(node_network_receive_errs_total[2m])[1h:5m]) > 0.01`,
	`avg_over_time(up[10m:1m] offset 5m) < 0.9`,
	`x offset -5m`,
	`up @ end() == 0`,
	`max_over_time(rate(x[5m])[30m:1m] @ start())`,
	`absent(up{job="kube-apiserver"} == 1)`,
	`time() - kube_cronjob_status_last_schedule_time > 3600 and changes(kube_cronjob_status_last_schedule_time[2h]) == 0`,
	`label_replace(kube_pod_info, "node_name", "$1", "node", "(.*)") * on (node_name) group_left(instance) node_uname_info`,
	`topk(3, sum by (namespace) (container_memory_working_set_bytes{container!=""}))`,
	`quantile_over_time(0.9, pg_replication_lag_seconds[10m]) > 30 and deriv(pg_replication_lag_seconds[5m]) > 0`,
	`count_values("version", kube_node_info) > 1`,
	`resets(process_start_time_seconds[1h]) > 3 or absent_over_time(up{job="etcd"}[5m])`,
}

func TestCheckAcceptsWhatTheCoreEvaluates(t *testing.T) {
	for _, q := range streamable {
		e, err := Parser.ParseExpr(q)
		require.NoError(t, err, q)
		require.NoError(t, Check(e), q)
	}
}

func TestCheckRefusesFixedAt(t *testing.T) {
	for _, tc := range []struct{ expr, names string }{
		{`metric @ 1609746000`, `metric @ 1609746000.000`},
		{`rate(http_requests_total[5m] @ 1609746000) > 1`, `http_requests_total @ 1609746000.000`},
		{`sum(x) / sum(x @ 1609746000 offset 1h)`, `x @ 1609746000.000 offset 1h`},
		{`max_over_time(rate(x[5m])[1h:1m] @ 1609746000)`, `subquery rate(x[5m])[1h:1m] @ 1609746000.000`},
	} {
		e, err := Parser.ParseExpr(tc.expr)
		require.NoError(t, err, tc.expr)
		err = Check(e)
		require.EqualError(t, err, "cannot keep the samples of "+tc.names+
			": the @ modifier with a fixed time reads outside the streaming window (use @ start() or @ end(), or no @)", tc.expr)
	}
}

// Parse applies Check to every rule and names file, line, group and rule; the problem is
// confined to its group (GroupError), which the core skips while loading the others.
func TestParseReportsWhatTheCoreCannotEvaluate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`groups:
  - name: good
    rules:
      - alert: KubePodCrashLooping
        expr: max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1
  - name: pinned
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: DroppedSinceNewYear
        expr: metric @ 1609746000 > metric
`), 0o600))
	f, errs := Parse(p)
	require.Len(t, f.Groups, 2)
	require.Len(t, errs, 1)
	require.EqualError(t, errs[0], p+`: 11:15: group "pinned", rule 2, "DroppedSinceNewYear": cannot keep the samples of metric @ 1609746000.000:`+
		` the @ modifier with a fixed time reads outside the streaming window (use @ start() or @ end(), or no @)`)
	var ge *GroupError
	require.True(t, errors.As(errs[0], &ge))
	require.Equal(t, "pinned", ge.Group)

	_, err := Load([]string{p})
	require.ErrorContains(t, err, `group "pinned", rule 2, "DroppedSinceNewYear": cannot keep the samples`)
	_, lerrs := Loader{}.Load(p, false, NameValidation)
	require.Len(t, lerrs, 1)
}

// Problems that rulefmt finds in a rule are confined to its group too; problems of the file are not.
func TestParseTellsGroupFromFileProblems(t *testing.T) {
	dir := t.TempDir()
	rule := filepath.Join(dir, "rule.yaml")
	require.NoError(t, os.WriteFile(rule, []byte("groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: rate(x[5m]\n"), 0o600))
	_, errs := Parse(rule)
	require.Len(t, errs, 1)
	var ge *GroupError
	require.True(t, errors.As(errs[0], &ge), "%v", errs[0])
	require.Equal(t, "a", ge.Group)

	repeated := filepath.Join(dir, "repeated.yaml")
	require.NoError(t, os.WriteFile(repeated, []byte("groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n"), 0o600))
	_, errs = Parse(repeated)
	require.Len(t, errs, 1)
	require.False(t, errors.As(errs[0], &ge), "%v", errs[0])
	require.ErrorContains(t, errs[0], `groupname: "a" is repeated in the same file`)
}
