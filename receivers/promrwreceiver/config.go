package promrwreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-obs/vigil/internal/confsplit"
)

// Config is the YAML configuration of the promrw receiver.
type Config struct {
	// ServerConfig is the HTTP server: endpoint (default 127.0.0.1:9201), tls, auth (the
	// clusterauth extension decides the cluster), max_request_body_size (default 16777216 bytes
	// of compressed body), middlewares.
	confighttp.ServerConfig `mapstructure:",squash"`
	ownConfig               `mapstructure:",squash"`
}

// ownConfig holds the receiver's own keys, beside the HTTP server's.
type ownConfig struct {
	// Path of the endpoint (default "/api/v1/write", as Prometheus's receiver).
	Path string `mapstructure:"path"`
	// MaxDecompressedBytes refuses (413) a request whose snappy block decodes to more bytes
	// (default 67108864).
	MaxDecompressedBytes int `mapstructure:"max_decompressed_bytes"`
	// MaxLabelsPerSeries rejects a series with more labels, alone (default 64).
	MaxLabelsPerSeries int `mapstructure:"max_labels_per_series"`
	// Cluster is the k8s.cluster.name of requests that carry no authenticated cluster. Leave
	// empty on a gateway (unauthenticated requests are then refused); "local" in all-in-one.
	Cluster string `mapstructure:"cluster"`
	// RetryAfter is sent with 503 when the pipeline cannot take the batch now (default 5s).
	RetryAfter time.Duration `mapstructure:"retry_after"`
}

func createDefaultConfig() *Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = "127.0.0.1:9201"
	sc.MaxRequestBodySize = 16 << 20
	// The receiver undoes snappy itself, bounding the decoded size before allocating it (and
	// answering 413 naming max_decompressed_bytes): the server's own decompression is off.
	sc.CompressionAlgorithms = []string{}
	return &Config{ServerConfig: sc, ownConfig: ownConfig{Path: "/api/v1/write", MaxDecompressedBytes: 64 << 20,
		MaxLabelsPerSeries: 64, RetryAfter: 5 * time.Second}}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set, e.g. 127.0.0.1:9201 (Prometheus's remote_write url is then http://127.0.0.1:9201/api/v1/write)"))
	}
	if c.Path == "" || c.Path[0] != '/' {
		errs = append(errs, fmt.Errorf("path: %q must start with /", c.Path))
	}
	if c.MaxRequestBodySize <= 0 {
		errs = append(errs, fmt.Errorf("max_request_body_size: %d must be positive", c.MaxRequestBodySize))
	}
	if c.MaxDecompressedBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_decompressed_bytes: %d must be positive", c.MaxDecompressedBytes))
	}
	if c.MaxLabelsPerSeries <= 0 {
		errs = append(errs, fmt.Errorf("max_labels_per_series: %d must be positive", c.MaxLabelsPerSeries))
	}
	if c.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry_after: %s must not be negative", c.RetryAfter))
	}
	return errors.Join(errs...)
}

// Unmarshal decodes the HTTP server's keys with the server's own unmarshaller (embedding it
// otherwise makes the whole Config a confmap.Unmarshaler that decodes the server's keys alone and
// silently drops path, cluster and the limits) and the receiver's keys strictly: an unknown key
// is an error.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	return confsplit.Unmarshal(conf, &c.ServerConfig, &c.ownConfig)
}
