package lokipushreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-obs/vigil/internal/confsplit"
)

// Config is the YAML configuration of the lokipush receiver.
type Config struct {
	// ServerConfig is the HTTP server: endpoint (default 127.0.0.1:3500), tls, auth (the
	// clusterauth extension decides the cluster), max_request_body_size (default 10485760
	// bytes, compressed as sent), middlewares. Requests with Content-Encoding gzip, zstd or
	// deflate are decompressed by the server.
	confighttp.ServerConfig `mapstructure:",squash"`
	ownConfig               `mapstructure:",squash"`
}

type ownConfig struct {
	// MaxDecodedBytes bounds a snappy-compressed protobuf body once decompressed (default 67108864).
	MaxDecodedBytes int `mapstructure:"max_decoded_bytes"`
	// MaxLabelsPerStream refuses a stream with more labels than this (default 15, as Loki's
	// max_label_names_per_series).
	MaxLabelsPerStream int `mapstructure:"max_labels_per_stream"`
	// MaxLineBytes refuses an entry whose line is longer than this, alone (default 262144, as
	// Loki's max_line_size).
	MaxLineBytes int `mapstructure:"max_line_bytes"`
	// Cluster is the k8s.cluster.name of requests that carry no authenticated cluster. Leave
	// empty on a gateway (unauthenticated requests are then refused); "local" in all-in-one.
	Cluster string `mapstructure:"cluster"`
	// RetryAfter is sent with 503 when the pipeline cannot take the request now (default 5s).
	RetryAfter time.Duration `mapstructure:"retry_after"`
}

func createDefaultConfig() *Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = "127.0.0.1:3500"
	sc.MaxRequestBodySize = 10 << 20
	return &Config{ServerConfig: sc, ownConfig: ownConfig{
		MaxDecodedBytes:    64 << 20,
		MaxLabelsPerStream: 15,
		MaxLineBytes:       256 << 10,
		RetryAfter:         5 * time.Second,
	}}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set, e.g. 127.0.0.1:3500"))
	}
	if c.MaxRequestBodySize <= 0 {
		errs = append(errs, fmt.Errorf("max_request_body_size: %d must be positive", c.MaxRequestBodySize))
	}
	if c.MaxDecodedBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_decoded_bytes: %d must be positive", c.MaxDecodedBytes))
	}
	if c.MaxLabelsPerStream <= 0 {
		errs = append(errs, fmt.Errorf("max_labels_per_stream: %d must be positive", c.MaxLabelsPerStream))
	}
	if c.MaxLineBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_line_bytes: %d must be positive", c.MaxLineBytes))
	}
	if c.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry_after: %q must be positive", c.RetryAfter))
	}
	if !c.Auth.HasValue() && c.Cluster == "" {
		errs = append(errs, errors.New("cluster: must be set when no auth authenticator is configured "+
			"(every stream needs a cluster; on a gateway configure auth: {authenticator: clusterauth})"))
	}
	return errors.Join(errs...)
}

// Unmarshal decodes the HTTP server's keys with the server's own unmarshaller (embedding it would
// otherwise hide the receiver's keys) and the receiver's keys strictly: an unknown key is an error.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	return confsplit.Unmarshal(conf, &c.ServerConfig, &c.ownConfig)
}
