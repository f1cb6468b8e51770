package walstorageextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "walstorage", cfg))
	require.Equal(t, &Config{Directory: "/var/lib/vigil/queue", MaxBytes: 10 << 30, SegmentBytes: 64 << 20}, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "walstorage/sizes", cfg))
	require.Equal(t, &Config{Directory: "/var/lib/vigil/queue", MaxBytes: 1 << 30, SegmentBytes: 16 << 20}, cfg)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "walstorage/unknown_key", createDefaultConfig()), "max_byte")

	err := testutil.LoadConfig(t, path, "walstorage/invalid", createDefaultConfig())
	for _, want := range []string{
		"directory: must be set",
		"max_bytes: -1 must not be negative",
		"segment_bytes: 0 is below the minimum of 4096",
	} {
		require.ErrorContains(t, err, want)
	}
}
