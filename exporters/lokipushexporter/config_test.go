package lokipushexporter

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
	require.NoError(t, testutil.LoadConfig(t, path, "lokipush", cfg))
	want := createDefaultConfig()
	want.ClientConfig.Endpoint = "http://loki:3100"
	want.DeadLetterDir = "/var/lib/vigil/deadletter/loki"
	require.Equal(t, want, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "lokipush/tenants", cfg))
	require.Equal(t, "https://loki.example.com", cfg.ClientConfig.Endpoint)
	require.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
	require.Equal(t, "platform", cfg.DefaultTenant)
	require.Equal(t, map[string]string{"prod-eu-1": "team-eu"}, cfg.Tenants)
	require.Equal(t, "team-eu", cfg.tenant("prod-eu-1"))
	require.Equal(t, "platform", cfg.tenant("other"))
	require.True(t, cfg.QueueConfig.HasValue())
	require.Equal(t, int64(500), cfg.QueueConfig.Get().QueueSize)
	require.Equal(t, time.Minute, cfg.RetryConfig.MaxElapsedTime)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "lokipush/unknown_key", createDefaultConfig()), "default_tenat")

	err := testutil.LoadConfig(t, path, "lokipush/invalid", createDefaultConfig())
	for _, want := range []string{
		`endpoint: "loki:3100" is not an http(s) URL`,
		`default_tenant: "a b" is not a Loki tenant ID`,
		`tenants["c1"]: ".." is not a Loki tenant ID`,
		"dead_letter_dir: must be set",
	} {
		require.ErrorContains(t, err, want)
	}
}
