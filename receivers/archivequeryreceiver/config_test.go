package archivequeryreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "archivequery", cfg))
	want := createDefaultConfig()
	want.Bucket.Directory = "/var/lib/vigil/archive"
	require.Equal(t, want, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "archivequery/api_port", cfg))
	require.Equal(t, component.MustNewID("httpapi"), *cfg.HTTPAPI)
	require.Len(t, cfg.Readers, 1)
	require.Equal(t, "auditor", cfg.Readers[0].Name)
	require.Equal(t, 1000, cfg.MaxLimit)
	require.Equal(t, 100, cfg.MaxQuerySeries)
	require.Equal(t, 5000, cfg.MaxPoints)
	require.Equal(t, 30*time.Second, cfg.Timeout)
	require.Equal(t, "vigil-gateway", cfg.AuditCluster)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "archivequery/unknown_key", createDefaultConfig()), "max_limits")

	err := testutil.LoadConfig(t, path, "archivequery/invalid", createDefaultConfig())
	for _, want := range []string{
		"bucket: directory: set directory",
		`readers: must be set when server.endpoint "0.0.0.0:3101" is not a loopback address`,
		"max_limit: 0 must be positive",
		"max_query_series: 0 must be positive",
		"max_points: 20000 must be between 1 and",
		`timeout: "0s" must be positive`,
		"audit_cluster: must be set",
	} {
		require.ErrorContains(t, err, want)
	}
}
