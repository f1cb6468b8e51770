package containerlogsreceiver

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
	require.NoError(t, testutil.LoadConfig(t, path, "containerlogs", cfg))
	want := createDefaultConfig()
	id := component.MustNewID("walstorage")
	want.Storage = &id
	require.Equal(t, want, cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "containerlogs/custom", cfg))
	require.Equal(t, []string{"/var/log/pods/kube-system_*/*/*.log"}, cfg.Exclude)
	require.Equal(t, []string{"shop-*"}, cfg.IncludeNamespaces)
	require.Equal(t, []string{"shop-test"}, cfg.ExcludeNamespaces)
	require.Equal(t, FormatCRI, cfg.Format)
	require.Equal(t, component.MustNewIDWithName("walstorage", "logs"), *cfg.Storage)
	require.Equal(t, time.Second, cfg.PollInterval)
	require.Equal(t, 64<<10, cfg.MaxLogBytes)
	require.Equal(t, `^\d{4}-`, cfg.Multiline.LineStartPattern)
	require.Equal(t, 2*time.Second, cfg.FlushTimeout)
	require.Equal(t, StartAtEnd, cfg.StartAt)
	require.Equal(t, 1<<20, cfg.MaxBatchBytes)
	require.Equal(t, "node-1", cfg.NodeName)
	require.Equal(t, []string{"example.com/no-logs"}, cfg.ExcludePodAnnotations)
	require.Equal(t, component.MustNewIDWithName("otlprelay", "node"), *cfg.Relay)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "containerlogs/unknown_key", createDefaultConfig()), "poll_intervall")

	err := testutil.LoadConfig(t, path, "containerlogs/invalid", createDefaultConfig())
	for _, want := range []string{
		"include: must list at least one glob pattern",
		`exclude[0]: "[" is not a glob pattern`,
		`format: "json" is not allowed`,
		"storage: must name the storage extension",
		`poll_interval: "0s" must be positive`,
		"max_log_bytes: 100 must be at least 1024",
		"max_batch_bytes: 10 must be at least max_log_bytes (100)",
		`multiline.line_start_pattern: "(" is not a regular expression`,
		`flush_timeout: "0s" must be positive`,
		`start_at: "middle" is not allowed`,
		"exclude_pod_annotations[0]: must not be empty",
	} {
		require.ErrorContains(t, err, want)
	}
}
