package evidenceextension

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func loadConfig(t *testing.T, id string) (*Config, error) {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), id, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestConfigValid(t *testing.T) {
	cfg, err := loadConfig(t, "evidence")
	require.NoError(t, err)
	require.Equal(t, 10, cfg.MaxLinesPerPod)
	require.Equal(t, 1024, cfg.MaxLineBytes)
	require.Equal(t, 1000, cfg.MaxPods)
	require.Len(t, cfg.RedactRules, 3, "the redact processor's defaults")

	cfg, err = loadConfig(t, "evidence/redact")
	require.NoError(t, err)
	require.Len(t, cfg.RedactRules, 2)
	// The configured rules are the ones applied: a ConfigMap's data is redacted too.
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	x := ext.(Provider).Index()
	x.Record(Resource{Pod: "p"}, time.Now(), LevelWarn, `{"apiVersion":"v1","kind":"ConfigMap","data":{"k":"value-to-hide"}}`)
	got := x.Lookup(Query{Resource: Resource{Pod: "p"}, Max: 1})
	require.Len(t, got, 1)
	require.NotContains(t, got[0].Text, "value-to-hide")
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		id   string
		want []string
	}{
		{"evidence/bad", []string{
			"max_lines_per_pod: 0 must be between 1 and 100",
			"max_line_bytes: 10 must be between 64 and 16384",
			"max_pods: 0 must be at least 1",
			`redact_rules: rules[0].fields[0]: "metadata" cannot be redacted`,
		}},
		{"evidence/unknown_key", []string{"has invalid keys: max_lines"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			_, err := loadConfig(t, tt.id)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
