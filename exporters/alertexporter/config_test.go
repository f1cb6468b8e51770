package alertexporter

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/testutil"
)

var configFile = filepath.Join("testdata", "config.yaml")

func TestConfigFromYAML(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, configFile, "alert", cfg))
	want := createDefaultConfig()
	want.RuleFiles = []string{"testdata/rules/lag.yaml"}
	want.Alertmanagers = []string{"http://127.0.0.1:9093", "https://am.example.com/prefix"}
	want.ExternalLabels = map[string]string{"cluster": "prod-eu", "replica": "a"}
	want.ExternalURL = "https://vigil.example.com"
	want.MinEvalInterval, want.EvaluationInterval = 500*time.Millisecond, 30*time.Second
	want.ResendDelay, want.LookbackDelta = 2*time.Minute, 10*time.Minute
	want.MaxSeries = 5000
	want.PromoteResourceAttributes = []string{"k8s.cluster.name"}
	wal := component.MustNewID("walstorage")
	want.Storage = &wal
	want.OutageTolerance, want.ForGracePeriod = 2*time.Hour, 5*time.Minute
	want.API.NetAddr.Endpoint = "127.0.0.1:9096"
	ev := component.MustNewID("evidence")
	want.Evidence = EvidenceConfig{
		Enabled: true, Extension: &ev, MaxLines: 8, Window: 30 * time.Minute, MaxBytes: 8192, MaxTraceIDs: 2,
		DisabledGroups: []string{"noisy"}, GrafanaURL: "https://grafana.example.com", GrafanaOrgID: 1,
		LokiDatasourceUID: "loki", TracesDatasourceUID: "jaeger", TracesDatasourceType: "jaeger",
	}
	require.Equal(t, want, cfg)
}

func TestConfigBuiltinPacks(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, configFile, "alert/builtin", cfg))
	files, err := rulefiles.Expand(cfg.RuleFiles)
	require.NoError(t, err)
	require.Equal(t, []string{"builtin:capacity.yaml", "builtin:replication.yaml"}, files)
	cfg.checkRuleFiles = true
	require.NoError(t, cfg.Validate())
}

// The contents of rule files fail Validate only when checked (`vigil validate`): vigil validates
// the configuration again at every start and SIGHUP, and a rule file edited badly must not stop it.
func TestConfigRuleFilesCheckedOnlyOnRequest(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, configFile, "alert/defaults", cfg))
	require.False(t, NewFactory().CreateDefaultConfig().(*Config).checkRuleFiles)
	checked := NewFactory(WithRuleFilesChecked()).CreateDefaultConfig().(*Config)
	require.True(t, checked.checkRuleFiles)
	checked.RuleFiles = cfg.RuleFiles
	require.ErrorContains(t, checked.Validate(), `group "broken", rule 1, "Unclosed": could not parse expression`)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		id   string
		want []string // every line of the error, in order
	}{
		{"alert/defaults", []string{
			`rule_files: testdata/rules/bad.yaml: 5:15: group "broken", rule 1, "Unclosed": could not parse expression: 1:7: parse error: unclosed left parenthesis`,
		}},
		{"alert/unknown_key", []string{"has invalid keys: alertmanager"}},
		{"alert/empty", []string{"rule_files: must list at least one rule file or glob"}},
		{"alert/bad", []string{
			`rule_files: cannot find rule files: "testdata/rules/missing-*.yaml" matches no file`,
			`testdata/rules/bad.yaml: 5:15: group "broken", rule 1, "Unclosed": could not parse expression: 1:7: parse error: unclosed left parenthesis`,
			`alertmanagers: "127.0.0.1:9093" must start with http:// or https://`,
			`alertmanagers: "ftp://am" must start with http:// or https://`,
			`alertmanagers: "http://" has no host`,
			`external_labels: "bad-name" is not a valid label name (letters, digits and '_', not starting with a digit)`,
			`external_labels: "empty" has an empty value`,
			`external_url: "not a url" must be an absolute http(s) URL`,
			`min_eval_interval: "5ms" must be at least 10ms`,
			`evaluation_interval: "500ms" must be at least 1s`,
			`resend_delay: "-1s" must be at least 0s`,
			`lookback_delta: "0s" must be at least 1s`,
			`outage_tolerance: "-1m0s" must be at least 0s`,
			`reload_interval: "-5s" must be at least 0s`,
			`max_series: 0 must be at least 1`,
			`evidence.max_lines: 101 must be between 0 and 100`,
			`evidence.window: "-1m0s" must not be negative`,
			`evidence.max_bytes: 10 must be between 256 and 65536`,
			`evidence.max_trace_ids: 4 must be between 0 and 3`,
			`evidence.grafana_url: "grafana" must be an absolute http(s) URL`,
			`evidence.grafana_org_id: 0 must be at least 1`,
			`evidence.traces_datasource_type: "zipkin" must be tempo or jaeger`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.checkRuleFiles = true // as `vigil validate`
			err := testutil.LoadConfig(t, configFile, tc.id, cfg)
			require.Error(t, err)
			msg := err.Error()
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
			if tc.id == "alert/bad" {
				require.Equal(t, len(tc.want), len(strings.Split(msg, "\n")), msg)
			}
		})
	}
}
