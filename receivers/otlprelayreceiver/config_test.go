package otlprelayreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/k8spod"
	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfigFromYAML(t *testing.T) {
	path := filepath.Join("testdata", "config.yaml")
	cfg := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "otlprelay", cfg))
	require.Equal(t, "0.0.0.0:4317", cfg.Protocols.GRPC.Get().NetAddr.Endpoint)
	require.Equal(t, 16, cfg.Protocols.GRPC.Get().MaxRecvMsgSizeMiB, "the grpc defaults are kept")
	require.Equal(t, int64(1048576), cfg.Protocols.HTTP.Get().MaxRequestBodySize)
	require.Equal(t, "walstorage", cfg.Storage.String())
	require.Equal(t, "vigil-gateway:4317", cfg.Forward.Endpoint)
	require.Equal(t, "fastest", cfg.Forward.CompressionLevel, "default")
	require.Equal(t, "a", string(cfg.Forward.Headers["x-tenant"]))
	require.Equal(t, 2, cfg.NumSenders)
	require.Equal(t, RetryConfig{InitialInterval: 500 * time.Millisecond, MaxInterval: time.Minute}, cfg.Retry)
	require.Equal(t, 10*time.Second, cfg.Timeout, "default")
	// Sorted by key; the empty value (an unset environment variable) is left out.
	require.Equal(t, []otlpwire.Attr{{Key: "k8s.cluster.name", Value: "prod-eu-1"}, {Key: "k8s.node.name", Value: "node-7"}}, cfg.attrs())
	require.Equal(t, PodMetadataConfig{NodeName: "node-7", Config: k8spod.Config{
		Enabled: true, AuthType: k8spod.AuthKubeConfig, Labels: []string{"team"}, SyncTimeout: 3 * time.Second,
	}}, cfg.PodMetadata)

	grpcOnly := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "otlprelay/grpc_only", grpcOnly))
	require.Equal(t, "127.0.0.1:4317", grpcOnly.Protocols.GRPC.Get().NetAddr.Endpoint, "listens on loopback unless configured")
	require.False(t, grpcOnly.Protocols.HTTP.HasValue(), "a protocol not listed does not listen")
	require.Equal(t, "best", grpcOnly.Forward.CompressionLevel)
	require.False(t, grpcOnly.PodMetadata.Enabled, "pod metadata is off by default")

	err := testutil.LoadConfig(t, path, "otlprelay/invalid", createDefaultConfig())
	require.Error(t, err)
	for _, want := range []string{
		"protocols: must enable grpc, http or both",
		"storage: must name the storage extension",
		`forward::endpoint: "https://vigil-gateway" must be host:port`,
		`forward::compression_level: "ultra"`,
		"num_senders: 0 must be positive",
		`retry: initial_interval "2s" must be positive and max_interval "1s" at least as long`,
		"pod_metadata.node_name: must be set when pod_metadata.enabled is true",
		`pod_metadata.auth_type: "token" is not allowed`,
	} {
		require.ErrorContains(t, err, want)
	}
	require.ErrorContains(t, testutil.LoadConfig(t, path, "otlprelay/unknown_key", createDefaultConfig()), "level_of_compression")

	gws := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "otlprelay/gateways", gws))
	require.Equal(t, 30*time.Second, gws.Forward.ResolveInterval)
	require.Equal(t, "node-7", gws.routingKey(), "an agent is routed by its node")
	require.Equal(t, RoutingConfig{Traces: "trace_id", Metrics: "node", Logs: "node"}, gws.Forward.Routing, "the defaults")
	require.True(t, gws.perItem(otlpwire.Traces))
	require.False(t, gws.perItem(otlpwire.Metrics))
	require.False(t, gws.perItem(otlpwire.Logs))
	require.Equal(t, "node-7", gws.signalKey(otlpwire.Logs))
	routing := createDefaultConfig()
	require.NoError(t, testutil.LoadConfig(t, path, "otlprelay/routing", routing))
	require.Equal(t, RoutingConfig{Traces: "node", Metrics: "series", Logs: "cluster"}, routing.Forward.Routing)
	require.False(t, routing.perItem(otlpwire.Traces), "traces: node sends requests whole")
	require.True(t, routing.perItem(otlpwire.Metrics), "metrics: series splits")
	require.Equal(t, "prod-eu-1", routing.signalKey(otlpwire.Logs), "logs: cluster")
	require.Equal(t, "node-7", routing.signalKey(otlpwire.Traces))
	err = testutil.LoadConfig(t, path, "otlprelay/gateways_invalid", createDefaultConfig())
	for _, want := range []string{
		`forward: set endpoint "vigil-gateway:4317" or endpoints, not both`,
		`forward::resolve_interval: "100ms" must be at least 1s`,
		`forward::routing::traces: "span_id": use trace_id or node`,
		`forward::routing::metrics: "trace_id": use series or node`,
		`forward::routing::logs: "series": use node or cluster`,
	} {
		require.ErrorContains(t, err, want)
	}
	gws = createDefaultConfig()
	gws.Storage = grpcOnly.Storage
	gws.Forward.Endpoints = []string{"gw-0:4317", "gw-1", "dns:///gw:4317"}
	err = gws.Validate()
	require.ErrorContains(t, err, `forward::endpoints: "gw-1" must be host:port`)
	require.ErrorContains(t, err, `forward::endpoints: "dns:///gw:4317" must be host:port`)
	require.NotContains(t, err.Error(), `"gw-0:4317"`)
}
