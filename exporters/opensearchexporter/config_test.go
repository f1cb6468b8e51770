package opensearchexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "opensearch", cfg))
	want := createDefaultConfig()
	want.Endpoints = []string{"https://opensearch:9200"}
	want.DeadLetterDir = "/var/lib/vigil/deadletter/opensearch"
	require.Equal(t, want, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "opensearch/custom", cfg))
	require.Equal(t, []string{"https://os-1:9200", "https://os-2:9200"}, cfg.Endpoints)
	require.Equal(t, "vigil", cfg.Username)
	require.Equal(t, configopaque.String("secret"), cfg.Password)
	require.Equal(t, "audit", cfg.IndexPrefix)
	require.Equal(t, 7*24*time.Hour, cfg.Retention)
	require.Equal(t, 2, cfg.ItemRetries)
	require.Equal(t, time.Second, cfg.ItemBackoff)
	require.Equal(t, 1<<20, cfg.MaxBulkBytes)
	require.Equal(t, 20*time.Second, cfg.TimeoutConfig.Timeout)
	require.Equal(t, int64(100), cfg.QueueConfig.Get().QueueSize)
	require.Equal(t, time.Minute, cfg.RetryConfig.MaxInterval)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "opensearch/unknown_key", createDefaultConfig()), "index_prefx")

	err := testutil.LoadConfig(t, path, "opensearch/invalid", createDefaultConfig())
	for _, want := range []string{
		`endpoints[0]: "opensearch:9200" is not an http(s) URL`,
		`index_prefix: "Audit" must be lowercase`,
		`retention: "10m0s" must be at least 1h`,
		"item_retries: -1 must not be negative",
		`item_backoff: "0s" must be positive`,
		"dead_letter_dir: must be set",
		"max_bulk_bytes: 10 is below the minimum of 1024",
	} {
		require.ErrorContains(t, err, want)
	}
}
