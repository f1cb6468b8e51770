package servicemapconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfig(t *testing.T) {
	custom := &Config{Wait: 2 * time.Second, MaxPendingEdges: 500, MaxEdges: 50, MetricsFlushInterval: 5 * time.Second,
		LatencyHistogramBuckets:   []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second},
		VirtualNodePeerAttributes: []string{"peer.service"}, Instance: "gateway-0"}
	tests := []struct {
		id      string
		want    *Config
		wantErr []string
	}{
		{id: "servicemap", want: createDefaultConfig()},
		{id: "servicemap/custom", want: custom},
		{id: "servicemap/bad", wantErr: []string{
			`wait: "0s" must be positive`,
			`max_pending_edges: -1 must be positive`,
			`max_edges: 0 must be positive`,
			`metrics_flush_interval: "0s" must be positive`,
			`latency_histogram_buckets: "10ms" after "100ms"; the bounds must increase`,
			`latency_histogram_buckets: "0s" must be positive`,
			`virtual_node_peer_attributes: an empty attribute name`,
			`virtual_node_peer_attributes: "peer.service" is listed twice`,
		}},
		{id: "servicemap/unknown_key", wantErr: []string{"has invalid keys: max_pending"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err := testutil.LoadConfig(t, filepath.Join("testdata", "config.yaml"), tt.id, cfg)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					require.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg)
		})
	}
}

func TestEmptyBucketsAreRefused(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.LatencyHistogramBuckets = nil
	require.EqualError(t, cfg.Validate(), "latency_histogram_buckets: at least one bucket is needed")
}
