package redconnector

import (
	"errors"
	"fmt"
	"time"
)

// Config is the YAML configuration of the red connector.
type Config struct {
	// MetricsFlushInterval is how often the cumulative metrics are sent on (default 15s).
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// Histogram configures the duration histogram.
	Histogram HistogramConfig `mapstructure:"histogram"`
	// Exemplars configures the exemplars attached to the data points.
	Exemplars ExemplarsConfig `mapstructure:"exemplars"`
	// MaxResources bounds the resources (distinct sets of resource attributes) held (default 1000,
	// the spanmetrics connector's resource_metrics_cache_size). When a span of a new resource comes
	// and the bound is reached, the resource seen least recently is sent one last time at the next
	// flush and forgotten (counted in vigil_red_evicted_resources_total).
	MaxResources int `mapstructure:"max_resources"`
	// MaxSeries bounds the series (resource, service, span name, kind, status code) held, all
	// resources together (default 10000). A span of a new series beyond it is counted in its
	// resource's overflow series (attribute otel.metric.overflow=true, as the OpenTelemetry SDKs
	// and the spanmetrics connector do) and in vigil_red_discarded_spans_total{reason="max_series"}.
	MaxSeries int `mapstructure:"max_series"`
	// MetricsExpiration, when positive, forgets the series of a resource that has had no span for
	// that long, after sending them one last time (default 0: kept until evicted).
	MetricsExpiration time.Duration `mapstructure:"metrics_expiration"`
	_                 struct{}
}

// HistogramConfig configures the duration histogram (unit: milliseconds).
type HistogramConfig struct {
	// Buckets are the upper bounds of the explicit buckets (default, as the spanmetrics
	// connector's: 2ms 4ms 6ms 8ms 10ms 50ms 100ms 200ms 400ms 800ms 1s 1.4s 2s 5s 10s 15s).
	Buckets []time.Duration `mapstructure:"buckets"`
	_       struct{}
}

// ExemplarsConfig configures the exemplars.
type ExemplarsConfig struct {
	// Enabled attaches exemplars (trace ID, span ID, duration in ms) to the calls and duration data
	// points (default true).
	Enabled bool `mapstructure:"enabled"`
	// MaxPerDataPoint bounds the exemplars of a data point per flush: the first spans of the
	// series after each flush (default 5).
	MaxPerDataPoint int `mapstructure:"max_per_data_point"`
	_               struct{}
}

// maxBuckets bounds the histogram buckets: each series holds one counter per bucket.
const maxBuckets = 200

func createDefaultConfig() *Config {
	ms := time.Millisecond
	return &Config{
		MetricsFlushInterval: 15 * time.Second,
		Histogram: HistogramConfig{Buckets: []time.Duration{2 * ms, 4 * ms, 6 * ms, 8 * ms, 10 * ms, 50 * ms,
			100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, 1400 * ms, 2 * time.Second, 5 * time.Second,
			10 * time.Second, 15 * time.Second}},
		Exemplars:    ExemplarsConfig{Enabled: true, MaxPerDataPoint: 5},
		MaxResources: 1000,
		MaxSeries:    10_000,
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.MetricsFlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: %q must be positive", c.MetricsFlushInterval))
	}
	if len(c.Histogram.Buckets) == 0 {
		errs = append(errs, errors.New("histogram.buckets: at least one bucket is needed"))
	}
	if len(c.Histogram.Buckets) > maxBuckets {
		errs = append(errs, fmt.Errorf("histogram.buckets: %d buckets, at most %d are allowed", len(c.Histogram.Buckets), maxBuckets))
	}
	for i, b := range c.Histogram.Buckets {
		if b <= 0 {
			errs = append(errs, fmt.Errorf("histogram.buckets: %q must be positive", b))
		}
		if i > 0 && b <= c.Histogram.Buckets[i-1] {
			errs = append(errs, fmt.Errorf("histogram.buckets: %q after %q; the bounds must increase", b, c.Histogram.Buckets[i-1]))
		}
	}
	if c.Exemplars.MaxPerDataPoint < 0 || c.Exemplars.MaxPerDataPoint > 100 {
		errs = append(errs, fmt.Errorf("exemplars.max_per_data_point: %d must be between 0 and 100", c.Exemplars.MaxPerDataPoint))
	}
	if c.MaxResources <= 0 {
		errs = append(errs, fmt.Errorf("max_resources: %d must be positive", c.MaxResources))
	}
	if c.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf("max_series: %d must be positive", c.MaxSeries))
	}
	if c.MetricsExpiration < 0 {
		errs = append(errs, fmt.Errorf("metrics_expiration: %q must not be negative (0 keeps the series)", c.MetricsExpiration))
	}
	return errors.Join(errs...)
}
