package bodylimitextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "bodylimit", cfg))
	require.Equal(t, NewFactory().CreateDefaultConfig(), cfg)

	// No options (the limit is the receiver's own): a key here is an error, not silently ignored.
	require.ErrorContains(t, testutil.LoadConfig(t, path, "bodylimit/unknown_key", NewFactory().CreateDefaultConfig()),
		"max_request_body_size")
}
