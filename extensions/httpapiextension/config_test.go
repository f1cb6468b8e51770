package httpapiextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")
	def := func() *Config { return NewFactory().CreateDefaultConfig().(*Config) }

	cfg := def()
	require.NoError(t, testutil.LoadConfig(t, path, "httpapi", cfg))
	require.Equal(t, DefaultEndpoint, cfg.NetAddr.Endpoint)
	require.Empty(t, cfg.Readers)

	cfg = def()
	require.NoError(t, testutil.LoadConfig(t, path, "httpapi/readers", cfg))
	require.Equal(t, "0.0.0.0:3101", cfg.NetAddr.Endpoint)
	require.Len(t, cfg.Readers, 1)
	require.Equal(t, "auditor", cfg.Readers[0].Name)
	require.Equal(t, []string{"auditor.example.com"}, cfg.Readers[0].Subjects)
	require.Equal(t, []configopaque.String{"0123456789abcdef0123"}, cfg.Readers[0].BearerTokens)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "httpapi/unknown_key", def()), "endpont")

	err := testutil.LoadConfig(t, path, "httpapi/invalid", def())
	for _, want := range []string{
		"endpoint: must be set",
		"readers[0].name: must be set",
		"readers[1].bearer_tokens[0]: shorter than 16 characters",
	} {
		require.ErrorContains(t, err, want)
	}
}
