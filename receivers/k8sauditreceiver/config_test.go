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
	require.Equal(t, 2000, cfg.MaxEventsPerRequest)
	require.Equal(t, int64(64<<20), cfg.MaxInflightBytes)
	require.NoError(t, cfg.Validate())
	require.Equal(t, 1_000_000, cfg.DedupMaxKeys, "defaults are kept")

	require.ErrorContains(t, testutil.LoadConfig(t, path, "k8saudit/unknown_key", createDefaultConfig()), "dedup_windw")
	require.ErrorContains(t, testutil.LoadConfig(t, path, "k8saudit/unknown_server_key", createDefaultConfig()), "endpont")
}

func TestConfigValidateLimits(t *testing.T) {
	def := createDefaultConfig()
	def.Cluster = "local"
	require.NoError(t, def.Validate())
	require.Equal(t, 10_000, def.MaxEventsPerRequest)
	require.Equal(t, int64(256<<20), def.MaxInflightBytes)
	require.GreaterOrEqual(t, def.MaxInflightBytes, requestCost(def.MaxRequestBodySize, def.MaxEventsPerRequest))

	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no events", func(c *Config) { c.MaxEventsPerRequest = 0 }, "max_events_per_request: 0 must be positive"},
		{"in flight below one request", func(c *Config) { c.MaxInflightBytes = 100 << 20 },
			"max_inflight_bytes: 104857600 is less than one request of max_request_body_size 67108864 with max_events_per_request 10000 " +
				"may hold (242286592 bytes: 3 per byte of body, 4096 per event)"},
		{"larger bodies need more in flight", func(c *Config) { c.MaxRequestBodySize = 128 << 20 }, "max_inflight_bytes: 268435456 is less than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Cluster = "local"
			tt.edit(cfg)
			require.ErrorContains(t, cfg.Validate(), tt.want)
		})
	}
}
