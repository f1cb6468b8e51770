package clusterauthextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

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
	cfg, err := loadConfig(t, "clusterauth")
	require.NoError(t, err)
	require.Len(t, cfg.Clusters, 2)
	require.Equal(t, "prod-eu-1", cfg.Clusters[0].Name)
	require.Equal(t, "0123456789abcdef0123", string(cfg.Clusters[0].BearerTokens[0]))
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		id   string
		want []string
	}{
		{"clusterauth/empty", []string{"clusters: must list at least one cluster with its subjects or bearer_tokens"}},
		{"clusterauth/bad", []string{
			"clusters[0].bearer_tokens[0]: too short (5 characters, at least 16 required)",
			`clusters[1].name: "a" is already used by clusters[0]`,
			`clusters[2].subjects[0]: "same" already maps to cluster "a"; a credential maps to one cluster`,
			"clusters[3].name: must be set",
			`clusters[4]: cluster "c" has no credential: set subjects or bearer_tokens`,
		}},
		{"clusterauth/unknown_key", []string{"has invalid keys: subject"}},
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
