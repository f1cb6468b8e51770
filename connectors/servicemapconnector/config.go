package servicemapconnector

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config is the YAML configuration of the servicemap connector.
type Config struct {
	// Wait is how long a client or server span waits for its pair (default 10s). Spans of one
	// request that come from two clusters travel through two agents, whose queues send
	// independently: a few seconds apart is normal.
	Wait time.Duration `mapstructure:"wait"`
	// MaxPendingEdges bounds the spans waiting for their pair (default 100000); when it is
	// reached the oldest one gives up its place (counted, reason evicted).
	MaxPendingEdges int `mapstructure:"max_pending_edges"`
	// MaxEdges bounds the distinct edges (client, server, their clusters, connection type) held
	// and exported (default 10000); a request on a new edge beyond it is counted, reason max_edges.
	MaxEdges int `mapstructure:"max_edges"`
	// MetricsFlushInterval is how often the edges' cumulative metrics are sent on (default 15s).
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// LatencyHistogramBuckets are the upper bounds of the latency histograms (default, as the
	// spanmetrics connector's: 2ms 4ms 6ms 8ms 10ms 50ms 100ms 200ms 400ms 800ms 1s 1.4s 2s 5s 10s 15s).
	LatencyHistogramBuckets []time.Duration `mapstructure:"latency_histogram_buckets"`
	// VirtualNodePeerAttributes name, in order, the client span attributes whose value becomes the
	// server of a request whose server span never came (an uninstrumented or external service):
	// default peer.service, db.name, db.system.
	VirtualNodePeerAttributes []string `mapstructure:"virtual_node_peer_attributes"`
	// Instance, when set, becomes the service.instance.id of the exported metrics (the Prometheus
	// label instance): replicas that each export their own edges then never write the same series.
	Instance string `mapstructure:"instance"`
	_        struct{}
}

func createDefaultConfig() *Config {
	ms := time.Millisecond
	return &Config{
		Wait:                 10 * time.Second,
		MaxPendingEdges:      100_000,
		MaxEdges:             10_000,
		MetricsFlushInterval: 15 * time.Second,
		LatencyHistogramBuckets: []time.Duration{2 * ms, 4 * ms, 6 * ms, 8 * ms, 10 * ms, 50 * ms, 100 * ms,
			200 * ms, 400 * ms, 800 * ms, time.Second, 1400 * ms, 2 * time.Second, 5 * time.Second,
			10 * time.Second, 15 * time.Second},
		VirtualNodePeerAttributes: []string{"peer.service", "db.name", "db.system"},
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Wait <= 0 {
		errs = append(errs, fmt.Errorf("wait: %q must be positive", c.Wait))
	}
	if c.MaxPendingEdges <= 0 {
		errs = append(errs, fmt.Errorf("max_pending_edges: %d must be positive", c.MaxPendingEdges))
	}
	if c.MaxEdges <= 0 {
		errs = append(errs, fmt.Errorf("max_edges: %d must be positive", c.MaxEdges))
	}
	if c.MetricsFlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: %q must be positive", c.MetricsFlushInterval))
	}
	if len(c.LatencyHistogramBuckets) == 0 {
		errs = append(errs, errors.New("latency_histogram_buckets: at least one bucket is needed"))
	}
	for i, b := range c.LatencyHistogramBuckets {
		if b <= 0 {
			errs = append(errs, fmt.Errorf("latency_histogram_buckets: %q must be positive", b))
		}
		if i > 0 && b <= c.LatencyHistogramBuckets[i-1] {
			errs = append(errs, fmt.Errorf("latency_histogram_buckets: %q after %q; the bounds must increase", b, c.LatencyHistogramBuckets[i-1]))
		}
	}
	for i, a := range c.VirtualNodePeerAttributes {
		if a == "" {
			errs = append(errs, errors.New("virtual_node_peer_attributes: an empty attribute name"))
		} else if slices.Contains(c.VirtualNodePeerAttributes[:i], a) {
			errs = append(errs, fmt.Errorf("virtual_node_peer_attributes: %q is listed twice", a))
		}
	}
	return errors.Join(errs...)
}
