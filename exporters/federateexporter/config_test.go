package federateexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, testutil.LoadConfig(t, path, "federate", cfg))
	require.Equal(t, "httpapi", cfg.HTTPAPI.String())
	require.Equal(t, []string{`{__name__=~"job:.+"}`, `up{cluster="prod-eu-1"}`}, cfg.Match)
	require.Equal(t, 5000, cfg.MaxSeries)
	require.Equal(t, 2*time.Minute, cfg.ExpireAfter)
	require.Equal(t, map[string]string{"federated_by": "vigil"}, cfg.ExternalLabels)
	sels, err := cfg.selectors()
	require.NoError(t, err)
	require.Len(t, sels, 2)

	def := createDefaultConfig().(*Config)
	require.NoError(t, testutil.LoadConfig(t, path, "federate/defaults", def))
	require.Equal(t, 200000, def.MaxSeries)
	require.Equal(t, 5*time.Minute, def.ExpireAfter)
	require.Empty(t, def.Match, "every series by default")

	require.ErrorContains(t, testutil.LoadConfig(t, path, "federate/unknown_key", createDefaultConfig()), "matches")
}

// TestConfigBad: every problem at once, naming the key, the value and what is allowed.
func TestConfigBad(t *testing.T) {
	err := testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), "federate/bad", createDefaultConfig())
	require.Error(t, err)
	for _, want := range []string{
		"http_api: must name the httpapi extension that serves /federate",
		`match: "up{" is not a series selector`,
		`match: "sum(up)" is not a series selector`,
		"max_series: 0 must be positive",
		`expire_after: "0s" must be a positive duration`,
		`external_labels: "__name__" is not allowed as a label name`,
	} {
		require.ErrorContains(t, err, want)
	}
}
