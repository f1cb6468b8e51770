package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/components/allroles"

	"github.com/vigil-obs/vigil/exporters/alertexporter"
)

func rulesFile(name string) string { return filepath.Join("testdata", "rules", name) }

func TestRulesCheckAcceptsValidFiles(t *testing.T) {
	out, err := execute(t, "rules", "check", rulesFile("good.yaml"))
	require.NoError(t, err, out)
	require.Equal(t, rulesFile("good.yaml")+": ok (1 groups, 2 rules)\n", out)
}

func TestRulesCheckNamesEveryProblem(t *testing.T) {
	out, err := execute(t, "rules", "check", rulesFile("good.yaml"), rulesFile("bad.yaml"), rulesFile("unknown_field.yaml"),
		filepath.Join("testdata", "rules", "absent", "*.yaml"))
	require.Error(t, err)
	require.EqualError(t, err, "cannot accept rule files: 7 problems in 2 of 3 files")
	bad := rulesFile("bad.yaml")
	for _, want := range []string{
		`cannot find rule files: "testdata/rules/absent/*.yaml" matches no file`,
		bad + `: 5:15: group "broken", rule 1, "BadExpr": could not parse expression: 1:33: parse error: unclosed left parenthesis`,
		bad + `: group "broken", rule 2, "BadTemplate": annotation "summary": template: __alert_BadTemplate:1: unclosed action`,
		bad + `: 10:17: group "broken", rule 3, "job:up:sum{x=\"y\"}": braces present in the recording rule name`,
		bad + `: 13:17: 12:16: group "broken", rule 4, "BothKinds": only one of 'record' and 'alert' must be set`,
		bad + `: 0:0: group "broken", rule 5, "NoExpr": field 'expr' must be set in rule`,
		rulesFile("unknown_field.yaml") + ": yaml: unmarshal errors:\n  line 6: field unknown_field not found in type rulefmt.Rule",
		rulesFile("good.yaml") + ": ok (1 groups, 2 rules)",
	} {
		require.Contains(t, out, want)
	}
	require.Equal(t, 1, strings.Count(out, ": ok ("), out)
}

func TestRulesCheckNeedsAFile(t *testing.T) {
	out, err := execute(t, "rules", "check")
	require.Error(t, err)
	require.Contains(t, out, "requires at least 1 arg")
}

func TestRulesCheckBuiltinPacks(t *testing.T) {
	out, err := execute(t, "rules", "check", "builtin:*.yaml")
	require.NoError(t, err, out)
	require.Equal(t, "builtin:capacity.yaml: ok (1 groups, 7 rules)\nbuiltin:replication.yaml: ok (3 groups, 7 rules)\n", out)
}

// What the streaming core cannot evaluate (the @ modifier with a fixed time) is refused by
// `rules check` and `validate`, with the check the core applies at load, naming file, line,
// group and rule.
func TestRulesCheckAndValidateRefuseWhatTheCoreCannotEvaluate(t *testing.T) {
	f := rulesFile("streaming.yaml")
	want := []string{
		f + `: 12:15: group "new-year", rule 2, "FewerTargetsThanAtNewYear": cannot keep the samples of up @ 1609459200.000:` +
			` the @ modifier with a fixed time reads outside the streaming window (use @ start() or @ end(), or no @)`,
		f + `: 14:15: group "new-year", rule 3, "RateBelowNewYear": cannot keep the samples of subquery`,
	}
	out, err := execute(t, "rules", "check", f)
	require.EqualError(t, err, "cannot accept rule files: 2 problems in 1 of 1 files")
	for _, w := range want {
		require.Contains(t, out, w)
	}

	roleEnv(t)
	out, err = execute(t, "validate", "--config", "embedded:allinone.yaml", "--config", alertOverride(t, f, "http://127.0.0.1:9093"))
	require.Error(t, err)
	for _, w := range want {
		require.Contains(t, out+err.Error(), w)
	}
	out, err = execute(t, "validate", "--rules", f)
	require.Error(t, err, out)
	require.Contains(t, out+err.Error(), want[0])
}

// Running vigil does not validate the contents of rule files: a bad group is skipped and
// reported at run time (see the alert exporter), it never stops vigil. Only validate checks them.
func TestOnlyValidateFailsOnRuleFiles(t *testing.T) {
	for _, checked := range []bool{false, true} {
		f, err := allroles.All(checked)
		require.NoError(t, err)
		cfg := f.Exporters[alertexporter.Type].CreateDefaultConfig().(*alertexporter.Config)
		cfg.RuleFiles = []string{rulesFile("streaming.yaml"), rulesFile("bad.yaml")}
		if checked {
			require.ErrorContains(t, cfg.Validate(), `"FewerTargetsThanAtNewYear": cannot keep the samples`)
		} else {
			require.NoError(t, cfg.Validate())
		}
	}
}
