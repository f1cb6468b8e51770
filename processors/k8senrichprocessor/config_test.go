package k8senrichprocessor

import (
	"path/filepath"
	"testing"
	"time"

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
	t.Setenv("K8S_NODE_NAME", "from-env")
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.Equal(t, "from-env", cfg.NodeName, "node_name defaults to $K8S_NODE_NAME")
	require.False(t, cfg.PodMetadata.Enabled)
	require.Equal(t, 10*time.Second, cfg.PodMetadata.SyncTimeout)

	cfg, err := loadConfig(t, "k8senrich/pods")
	require.NoError(t, err)
	require.Equal(t, &Config{ClusterName: "prod-eu-1", NodeName: "node-1", PodMetadata: PodMetadataConfig{
		Enabled: true, AuthType: AuthKubeConfig, Labels: []string{"team"}, SyncTimeout: 3 * time.Second,
	}}, cfg)

	_, err = loadConfig(t, "k8senrich")
	require.NoError(t, err)
}

func TestConfigInvalid(t *testing.T) {
	t.Setenv("K8S_NODE_NAME", "")
	_, err := loadConfig(t, "k8senrich/bad")
	require.Error(t, err)
	for _, want := range []string{
		"cluster_name: must be set",
		"node_name: must be set when pod_metadata.enabled is true",
		`pod_metadata.auth_type: "token" is not allowed`,
		"pod_metadata.labels[0]: must not be empty",
		`pod_metadata.sync_timeout: "0s" must be positive`,
	} {
		require.Contains(t, err.Error(), want)
	}
	_, err = loadConfig(t, "k8senrich/unknown_key")
	require.ErrorContains(t, err, "has invalid keys: clustername")
}
