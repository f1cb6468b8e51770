package evidenceprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "evidence", cfg))
	require.Equal(t, component.NewID(evidenceextension.Type), cfg.Extension)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "evidence/named", cfg))
	require.Equal(t, component.MustNewIDWithName("evidence", "gateway"), cfg.Extension)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "evidence/unknown_key", createDefaultConfig()), "extensions")
	require.ErrorContains(t, testutil.LoadConfig(t, path, "evidence/invalid", createDefaultConfig()), "not a/valid/id")
}
