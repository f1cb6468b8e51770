package archiveexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "archive", cfg))
	want := createDefaultConfig()
	want.Directory = "/var/lib/vigil/archive"
	want.Storage = component.MustNewID("walstorage")
	require.Equal(t, want, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "archive/s3", cfg))
	require.NotNil(t, cfg.S3)
	require.Equal(t, "audit-archive", cfg.S3.Bucket)
	require.Equal(t, "platform", cfg.Tenant)
	require.Equal(t, "vigil-gateway-0", cfg.Writer)
	require.Equal(t, component.MustNewIDWithName("walstorage", "archive"), cfg.Storage)
	require.Equal(t, 1<<20, cfg.MaxObjectBytes)
	require.Equal(t, time.Minute, cfg.MaxObjectAge)
	require.Equal(t, 10*time.Minute, cfg.SealInterval)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "archive/unknown_key", createDefaultConfig()), "max_object_ages")

	err := testutil.LoadConfig(t, path, "archive/invalid", createDefaultConfig())
	for _, want := range []string{
		`tenant: "a b" must be letters`,
		`writer: "-pod" must be empty or at most 253 letters`,
		"storage: must name the walstorage extension",
		"max_object_bytes: 10 is below the minimum of 1024",
		`max_object_age: "10ms" must be at least 1s`,
		`seal_interval: "0s" must be at least 1s`,
		"seal_key_file: ",
	} {
		require.ErrorContains(t, err, want)
	}
}
