package lokipushreceiver

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
	want.Cluster = "local"
	require.Equal(t, want, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "lokipush/gateway", cfg))
	require.Equal(t, "0.0.0.0:3500", cfg.NetAddr.Endpoint)
	require.True(t, cfg.Auth.HasValue())
	require.Equal(t, int64(1<<20), cfg.MaxRequestBodySize)
	require.Equal(t, 4<<20, cfg.MaxDecodedBytes)
	require.Equal(t, 20, cfg.MaxLabelsPerStream)
	require.Equal(t, 64<<10, cfg.MaxLineBytes)
	require.Equal(t, 10*time.Second, cfg.RetryAfter)
	require.Empty(t, cfg.Cluster)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "lokipush/unknown_key", createDefaultConfig()), "max_line_byte")
	require.ErrorContains(t, testutil.LoadConfig(t, path, "lokipush/unknown_server_key", createDefaultConfig()), "endpont")

	err := testutil.LoadConfig(t, path, "lokipush/invalid", createDefaultConfig())
	for _, want := range []string{
		"endpoint: must be set",
		"max_request_body_size: 0 must be positive",
		"max_decoded_bytes: 0 must be positive",
		"max_labels_per_stream: 0 must be positive",
		"max_line_bytes: -1 must be positive",
		`retry_after: "0s" must be positive`,
		"cluster: must be set when no auth authenticator is configured",
	} {
		require.ErrorContains(t, err, want)
	}
}
