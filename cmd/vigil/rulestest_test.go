package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/rulestest"
)

func ruleTestFile(name string) string { return filepath.Join("testdata", "rulestest", name) }

// The files that must pass: every test group of each is reported as passing.
var passingRuleTests = []string{"replication_test.yml", "capacity_test.yml", "subquery_test.yml"}

func TestRulesTestPassesUsersFiles(t *testing.T) {
	for _, name := range passingRuleTests {
		t.Run(name, func(t *testing.T) {
			f, err := rulestest.ReadFile(ruleTestFile(name))
			require.NoError(t, err)
			require.NotEmpty(t, f.Tests)
			out, err := execute(t, "rules", "test", ruleTestFile(name))
			require.NoError(t, err, out)
			for _, tg := range f.Tests {
				require.Contains(t, out, "  PASS  "+tg.Name+"\n")
			}
			require.NotContains(t, out, "FAIL")
		})
	}
}

// Wrong expectations fail, exit 1, and print what was expected next to what the core gave.
func TestRulesTestReportsFailuresWithTheDiff(t *testing.T) {
	out, err := execute(t, "rules", "test", ruleTestFile("failing_test.yml"), ruleTestFile("replication_test.yml"))
	require.Error(t, err)
	require.Equal(t, 1, exitCode(err))
	require.EqualError(t, err, "rule tests failed: 1 of 4 test groups failed, 0 of 2 files could not be read")
	for _, want := range []string{
		"  FAIL  expects the alert too early\n" +
			"    alertname: PostgresReplicationLagHigh, time: 6m,\n" +
			"        exp: [\n" +
			`          0: {alertname="PostgresReplicationLagHigh", cluster="prod-eu", instance="pg-replica-1", severity="warning"} {}` + "\n" +
			"        ]\n" +
			"        got: []\n",
		`    expr: "pg_replication_lag_seconds", time: 5m,` + "\n" +
			"        exp: [\n" +
			`          0: {__name__="pg_replication_lag_seconds", cluster="prod-eu", instance="pg-replica-1"} 50` + "\n" +
			"        ]\n" +
			"        got: [\n" +
			`          0: {__name__="pg_replication_lag_seconds", cluster="prod-eu", instance="pg-replica-1"} 45` + "\n",
		"  PASS  a flapping redis link keeps firing for 5m after it recovers\n",
	} {
		require.Contains(t, out, want)
	}
}

// A rule that the streaming core cannot evaluate fails its tests, naming file, line, group, rule
// and why, although Prometheus evaluates it.
func TestRulesTestNamesWhatTheCoreCannotEvaluate(t *testing.T) {
	out, err := execute(t, "rules", "test", ruleTestFile("pinned_test.yml"))
	require.Error(t, err)
	require.Contains(t, out, "  FAIL  traffic halves after launch day\n"+
		`    rule group "traffic" is not evaluated by vigil: `+ruleTestFile("pinned.rules.yml")+
		`: 5:15: group "traffic", rule 1, "TrafficBelowLaunchDay": cannot keep the samples of http_requests_total @ 600.000:`+
		` the @ modifier with a fixed time reads outside the streaming window`)
}

func TestRulesTestRunSelectsTestGroups(t *testing.T) {
	out, err := execute(t, "rules", "test", "--run", "redis|stale", ruleTestFile("replication_test.yml"), ruleTestFile("failing_test.yml"))
	require.NoError(t, err, out)
	require.Equal(t, 2, strings.Count(out, "  PASS  "), out)
	require.NotContains(t, out, "lag above 30s")
	require.NotContains(t, out, "FAIL")
	require.Contains(t, out, "ok: 2 test groups passed in 2 files")

	_, err = execute(t, "rules", "test", "--run", "(", ruleTestFile("replication_test.yml"))
	require.ErrorContains(t, err, `--run: "(" is not a regular expression`)
}

// Bad test files get an error naming the file and the problem; the other files still run.
func TestRulesTestRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	rules, err := filepath.Abs(ruleTestFile("replication.rules.yml"))
	require.NoError(t, err)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	for _, tc := range []struct {
		name, content, want string
		group               bool // the problem fails a test group, not the whole file
	}{
		{"empty.yml", "", "the file is empty", false},
		{"notyaml.yml", "tests: [", "yaml: line 1: did not find expected node content", false},
		{"unknown.yml", "rule_files: []\ntest:\n  - name: x\n", "line 2: field test not found in type rulestest.File", false},
		{"nomatch.yml", "rule_files: [absent/*.yml]\n", `rule_files: cannot find rule files: "` + filepath.Join(dir, "absent/*.yml") + `" matches no file`, false},
		{"noalertname.yml", "rule_files: [" + rules + "]\ntests:\n  - name: t\n    alert_rule_test:\n      - eval_time: 5m\n",
			"tests[0] (t): alert_rule_test[0] (eval_time 5m): alertname must be set", false},
		{"baddur.yml", "evaluation_interval: soon\n", `not a valid duration string: "soon"`, false},
		{"badstart.yml", "tests:\n  - start_timestamp: yesterday\n", `line 2: start_timestamp: "yesterday" is neither RFC 3339 nor Unix seconds`, false},
		{"badseries.yml", "rule_files: [" + rules + "]\ntests:\n  - input_series:\n      - series: 'up{job=\"a\"'\n        values: 1x3\n",
			`input_series[0] "up{job=\"a\"": cannot parse series and values:`, true},
		{"badvalues.yml", "tests:\n  - input_series:\n      - series: up\n        values: 1 2 three\n",
			`input_series[0] "up": cannot parse series and values:`, true},
		{"badlabels.yml", "tests:\n  - promql_expr_test:\n      - expr: vector(1)\n        exp_samples:\n          - labels: '{a='\n",
			`expr: "vector(1)", time: 0s, err: labels "{a=":`, true},
		{"badexpr.yml", "tests:\n  - promql_expr_test:\n      - expr: rate(x[5m]\n", `expr: "rate(x[5m]", time: 0s, err:`, true},
		{"toolong.yml", "evaluation_interval: 1s\ntests:\n  - promql_expr_test:\n      - expr: vector(1)\n        eval_time: 10y\n",
			"eval_time 10y at evaluation_interval 1s needs 315360000 evaluations; the limit is 1000000", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name, tc.content)
			out, err := execute(t, "rules", "test", p, ruleTestFile("capacity_test.yml"))
			require.Error(t, err, out)
			require.Equal(t, 1, exitCode(err))
			require.Contains(t, out, tc.want)
			require.Contains(t, out, "  PASS  disk filling up\n", "the other file runs")
			if !tc.group {
				require.Contains(t, out, "  FAILED: cannot read rule test file "+p+": ")
			} else {
				require.Contains(t, out, "  FAIL  unnamed#0\n")
			}
		})
	}
	out, err := execute(t, "rules", "test", filepath.Join(dir, "missing.yml"))
	require.Error(t, err)
	require.Contains(t, out, "cannot read rule test file: open "+filepath.Join(dir, "missing.yml")+": no such file or directory")
	_, err = execute(t, "rules", "test")
	require.ErrorContains(t, err, "requires at least 1 arg")
}

// The same files give the same verdict from Prometheus's promtool and from vigil, except where
// the streaming core cannot evaluate a rule (pinned_test.yml), which only vigil refuses.
func TestRulesTestAgreesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is required in CI: apt-get install -y prometheus")
		}
		t.Skip("promtool not found: apt-get install -y prometheus (it installs /usr/bin/promtool)")
	}
	files, err := filepath.Glob(ruleTestFile("*_test.yml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 4)
	verdicts := map[string]bool{}
	for _, f := range files {
		out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
		var exit *exec.ExitError
		require.True(t, err == nil || errors.As(err, &exit), "promtool: %v\n%s", err, out)
		promPass := err == nil
		vout, verr := execute(t, "rules", "test", f)
		vigilPass := verr == nil
		verdicts[filepath.Base(f)] = vigilPass
		if filepath.Base(f) == "pinned_test.yml" {
			require.True(t, promPass, "promtool evaluates the @ rule:\n%s", out)
			require.False(t, vigilPass, "vigil refuses the @ rule:\n%s", vout)
			continue
		}
		require.Equal(t, promPass, vigilPass, "%s: promtool:\n%s\nvigil:\n%s", f, out, vout)
	}
	require.False(t, verdicts["failing_test.yml"])
	for _, f := range passingRuleTests {
		require.True(t, verdicts[f], f)
	}
}

// Native histograms (series notation {{...}}) are input for promql_expr_test; the streaming core
// holds floats only, so a rule that selects them fails its tests and says why.
func TestRulesTestNativeHistograms(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "latency.rules.yml"), []byte(`groups:
  - name: latency
    rules:
      - alert: SlowRPCs
        expr: histogram_quantile(0.9, rate(rpc_duration_seconds[5m])) > 1
`), 0o600))
	test := filepath.Join(dir, "latency_test.yml")
	require.NoError(t, os.WriteFile(test, []byte(`rule_files: [latency.rules.yml]
tests:
  - name: not selected by a rule
    input_series:
      - series: queue_wait_seconds
        values: "{{sum:3 count:2 buckets:[2]}}x2"
    promql_expr_test:
      - expr: queue_wait_seconds
        eval_time: 2m
        exp_samples:
          - labels: queue_wait_seconds
            histogram: "{{count:2 sum:3 counter_reset_hint:not_reset buckets:[2]}}"
  - name: selected by a rule
    input_series:
      - series: rpc_duration_seconds
        values: "{{sum:3 count:2 buckets:[2]}}+{{sum:1 count:1 buckets:[1]}}x5"
    alert_rule_test:
      - eval_time: 5m
        alertname: SlowRPCs
        exp_alerts: []
`), 0o600))
	out, err := execute(t, "rules", "test", test)
	require.Error(t, err)
	require.Contains(t, out, "  PASS  not selected by a rule\n")
	require.Contains(t, out, "  FAIL  selected by a rule\n"+
		"    input series {__name__=\"rpc_duration_seconds\"} at 0s: it holds native histograms,"+
		" which vigil's streaming core does not evaluate (a rule selects it)\n")
}
