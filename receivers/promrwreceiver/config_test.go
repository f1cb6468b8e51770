package promrwreceiver

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
	require.NoError(t, testutil.LoadConfig(t, path, "promrw", cfg))
	require.Equal(t, "0.0.0.0:9201", cfg.NetAddr.Endpoint)
	require.Equal(t, "/receive", cfg.Path)
	require.Equal(t, "prod-eu-1", cfg.Cluster)
	require.Equal(t, int64(1048576), cfg.MaxRequestBodySize)
	require.Equal(t, 4194304, cfg.MaxDecompressedBytes)
	require.Equal(t, 32, cfg.MaxLabelsPerSeries)
	require.Equal(t, 10*time.Second, cfg.RetryAfter)
	require.Empty(t, cfg.CompressionAlgorithms, "the receiver undoes snappy itself")

	require.ErrorContains(t, testutil.LoadConfig(t, path, "promrw/unknown_key", createDefaultConfig()), "max_labels_per_serie")
}

func TestConfigDefaults(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, cfg.Validate())
	require.Equal(t, "127.0.0.1:9201", cfg.NetAddr.Endpoint, "loopback unless configured")
	require.Equal(t, "/api/v1/write", cfg.Path)
	require.Equal(t, int64(16<<20), cfg.MaxRequestBodySize)
	require.Equal(t, 64<<20, cfg.MaxDecompressedBytes)
	require.Equal(t, 64, cfg.MaxLabelsPerSeries)
	require.Equal(t, 5*time.Second, cfg.RetryAfter)
	require.Empty(t, cfg.Cluster)
}

// TestConfigBad: every problem is reported at once, each naming its key and value.
func TestConfigBad(t *testing.T) {
	err := testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), "promrw/bad", createDefaultConfig())
	require.Error(t, err)
	for _, want := range []string{
		"endpoint: must be set, e.g. 127.0.0.1:9201",
		`path: "receive" must start with /`,
		"max_request_body_size: 0 must be positive",
		"max_decompressed_bytes: -1 must be positive",
		"max_labels_per_series: 0 must be positive",
		"retry_after: -1s must not be negative",
	} {
		require.ErrorContains(t, err, want)
	}
}
