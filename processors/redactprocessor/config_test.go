package redactprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "redact", cfg))
	require.Equal(t, createDefaultConfig(), cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "redact/custom", cfg))
	require.Equal(t, []Rule{
		{Resources: []string{"secrets"}, APIGroups: []string{""}, Fields: []string{"data", "stringData"}},
		{Resources: []string{"configmaps"}, Fields: []string{"data.password"}},
	}, cfg.Rules, "rules replace the defaults")

	require.ErrorContains(t, testutil.LoadConfig(t, path, "redact/unknown_key", createDefaultConfig()), "invalid keys: field")

	err := testutil.LoadConfig(t, path, "redact/invalid", createDefaultConfig())
	for _, want := range []string{
		`rules[0].resources[0]: "secrets/" is not a resource or resource/subresource`,
		`rules[0].fields[0]: "metadata" cannot be redacted`,
		"rules[1].resources: must list at least one resource",
		"rules[1].fields: must list at least one field",
	} {
		require.ErrorContains(t, err, want)
	}
}
