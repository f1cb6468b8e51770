package clusteridentityprocessor

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

func TestConfig(t *testing.T) {
	tests := []struct {
		id      string
		want    *Config
		wantErr string
	}{
		{id: "clusteridentity", want: &Config{OnMismatch: "reject", RequireAuthentication: true}},
		{id: "clusteridentity/overwrite", want: &Config{OnMismatch: "overwrite", RequireAuthentication: false}},
		{id: "clusteridentity/bad", wantErr: `on_mismatch: "drop" is not allowed; use "reject" or "overwrite"`},
		{id: "clusteridentity/unknown_key", wantErr: "has invalid keys: on_missmatch"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.id)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg)
		})
	}
}
