package tracecontextprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")

	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "tracecontext", cfg))
	require.Equal(t, createDefaultConfig(), cfg)

	cfg = createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "tracecontext/custom", cfg))
	require.Equal(t, &Config{
		TraceparentKeys: []string{"traceparent", "w3c.traceparent"},
		TraceIDKeys:     []string{"trace_id"},
		SpanIDKeys:      []string{"span_id"},
		Body:            false,
		MaxBodyBytes:    4096,
	}, cfg)

	require.ErrorContains(t, testutil.LoadConfig(t, path, "tracecontext/unknown_key", createDefaultConfig()), "max_body_byte")

	err := testutil.LoadConfig(t, path, "tracecontext/invalid", createDefaultConfig())
	require.ErrorContains(t, err, "trace_id_keys: an empty key")
	require.ErrorContains(t, err, "max_body_bytes: 0 must be positive")
}
