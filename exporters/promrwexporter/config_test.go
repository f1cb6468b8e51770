package promrwexporter

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
	require.Equal(t, "https://mimir.example:8080/api/v1/push", cfg.Endpoint)
	require.Equal(t, 20*time.Second, cfg.Timeout)
	h, ok := cfg.Headers.Get("X-Scope-OrgID")
	require.True(t, ok)
	require.Equal(t, "platform", string(h))
	require.Equal(t, map[string]string{"region": "eu-west-1"}, cfg.ExternalLabels)
	q := cfg.QueueConfig.Get()
	require.NotNil(t, q)
	require.NotNil(t, q.StorageID)
	require.Equal(t, "walstorage", q.StorageID.String())
	require.Equal(t, int64(5000), q.QueueSize)
	require.Equal(t, 10*time.Second, cfg.RetryConfig.MaxInterval)
	require.Zero(t, cfg.RetryConfig.MaxElapsedTime, "a queued batch is never given up (default kept)")

	require.ErrorContains(t, testutil.LoadConfig(t, path, "promrw/unknown_key", createDefaultConfig()), "external_label")
}

// TestConfigBad: every problem at once, naming the key, the value and what is allowed.
func TestConfigBad(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")
	err := testutil.LoadConfig(t, path, "promrw/bad", createDefaultConfig())
	require.ErrorContains(t, err, `endpoint: "prometheus:9090" is not an http(s) URL`)
	require.ErrorContains(t, err, `external_labels: "__name__" is not allowed as a label name`)
	require.ErrorContains(t, testutil.LoadConfig(t, path, "promrw/empty", createDefaultConfig()),
		"endpoint: must be set to the remote-write URL, e.g. http://prometheus:9090/api/v1/write")
}
