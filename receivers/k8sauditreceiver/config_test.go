package k8sauditreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")
	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "k8saudit", cfg))
	require.Equal(t, "0.0.0.0:8443", cfg.NetAddr.Endpoint)
	require.Equal(t, "/k8s/audit", cfg.Path)
	require.Equal(t, "prod-eu-1", cfg.Cluster)
	require.Equal(t, 262144, cfg.MaxEventBytes)
	require.Equal(t, 30*time.Minute, cfg.DedupWindow)
	require.Equal(t, int64(1048576), cfg.MaxRequestBodySize)
	require.Equal(t, 1_000_000, cfg.DedupMaxKeys, "defaults are kept")

	require.ErrorContains(t, testutil.LoadConfig(t, path, "k8saudit/unknown_key", createDefaultConfig()), "dedup_windw")
	require.ErrorContains(t, testutil.LoadConfig(t, path, "k8saudit/unknown_server_key", createDefaultConfig()), "endpont")
}
