package redconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestConfig(t *testing.T) {
	custom := &Config{MetricsFlushInterval: 5 * time.Second,
		Histogram:    HistogramConfig{Buckets: []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}},
		Exemplars:    ExemplarsConfig{Enabled: false, MaxPerDataPoint: 2},
		MaxResources: 20, MaxSeries: 300, MetricsExpiration: 10 * time.Minute}
	tests := []struct {
		id      string
		want    *Config
		wantErr []string
	}{
		{id: "red", want: createDefaultConfig()},
		{id: "red/custom", want: custom},
		{id: "red/bad", wantErr: []string{
			`metrics_flush_interval: "0s" must be positive`,
			`histogram.buckets: "10ms" after "100ms"; the bounds must increase`,
			`histogram.buckets: "0s" must be positive`,
			`exemplars.max_per_data_point: -1 must be between 0 and 100`,
			`max_resources: 0 must be positive`,
			`max_series: -5 must be positive`,
			`metrics_expiration: "-1s" must not be negative (0 keeps the series)`,
		}},
		{id: "red/unknown_key", wantErr: []string{"has invalid keys: dimensions"}},
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

func TestBucketsBounds(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Histogram.Buckets = nil
	require.EqualError(t, cfg.Validate(), "histogram.buckets: at least one bucket is needed")
	cfg.Histogram.Buckets = make([]time.Duration, maxBuckets+1)
	for i := range cfg.Histogram.Buckets {
		cfg.Histogram.Buckets[i] = time.Duration(i+1) * time.Millisecond
	}
	require.EqualError(t, cfg.Validate(), "histogram.buckets: 201 buckets, at most 200 are allowed")
}
