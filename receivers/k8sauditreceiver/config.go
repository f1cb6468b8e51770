package k8sauditreceiver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-obs/vigil/internal/confsplit"
)

// Config is the YAML configuration of the k8saudit receiver.
type Config struct {
	// ServerConfig is the HTTP server: endpoint (default 127.0.0.1:8090), tls, auth, max_request_body_size
	// (default 67108864 bytes), middlewares. Authentication (the clusterauth extension, bearer
	// tokens from the apiserver's webhook kubeconfig) decides the cluster.
	confighttp.ServerConfig `mapstructure:",squash"`
	ownConfig               `mapstructure:",squash"`
}

// ownConfig holds the receiver's own keys, beside the HTTP server's.
type ownConfig struct {
	// Path of the webhook (default "/audit").
	Path string `mapstructure:"path"`
	// MaxEventBytes rejects a single event larger than this many bytes, alone (default 1048576).
	MaxEventBytes int `mapstructure:"max_event_bytes"`
	// MaxEventsPerRequest refuses (413) a webhook request whose EventList has more items than
	// this (default 10000; the apiserver's --audit-webhook-batch-max-size defaults to 400). With
	// max_request_body_size it bounds what one request holds in memory (see README).
	MaxEventsPerRequest int `mapstructure:"max_events_per_request"`
	// MaxInflightBytes bounds the memory held by the webhook requests being handled together,
	// counted as requestCost (3 bytes per byte of body, 4096 per event); a request that would
	// exceed it is answered 429 with Retry-After (default 268435456 bytes). It must leave room
	// for one request of max_request_body_size with max_events_per_request events.
	MaxInflightBytes int64 `mapstructure:"max_inflight_bytes"`
	// DedupWindow: an event (auditID, stage) sent again within this duration is stored once
	// (default 10m; 0 disables).
	DedupWindow time.Duration `mapstructure:"dedup_window"`
	// DedupMaxKeys bounds the memory of de-duplication (default 1000000 keys, ~100 MB).
	DedupMaxKeys int `mapstructure:"dedup_max_keys"`
	// Cluster is the k8s.cluster.name of requests that carry no authenticated cluster. Leave
	// empty on a gateway (unauthenticated requests are then refused); "local" in all-in-one.
	Cluster string `mapstructure:"cluster"`
	// RetryAfter is sent with 503 when the pipeline cannot take the batch now (default 5s).
	RetryAfter time.Duration `mapstructure:"retry_after"`
	// Files are audit log files to follow (JSON lines, the apiserver's --audit-log-path), on
	// control-plane nodes. Default: none. With files and an empty endpoint, no webhook listens.
	Files []string `mapstructure:"files"`
	// FileStorage is the storage extension (walstorage) that keeps each file's position. Required with files.
	FileStorage *component.ID `mapstructure:"file_storage"`
	// PollInterval is how often files are checked for new lines (default 250ms).
	PollInterval time.Duration `mapstructure:"poll_interval"`
}

func createDefaultConfig() *Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = "127.0.0.1:8090"
	sc.MaxRequestBodySize = 64 << 20
	return &Config{ServerConfig: sc, ownConfig: ownConfig{
		Path:                "/audit",
		MaxEventBytes:       1 << 20,
		MaxEventsPerRequest: 10_000,
		MaxInflightBytes:    256 << 20,
		DedupWindow:         10 * time.Minute,
		DedupMaxKeys:        1_000_000,
		RetryAfter:          5 * time.Second,
		PollInterval:        250 * time.Millisecond,
	}}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" && len(c.Files) == 0 {
		errs = append(errs, errors.New("endpoint: must be set, e.g. 127.0.0.1:8090 (or follow files)"))
	}
	if len(c.Files) > 0 && c.FileStorage == nil {
		errs = append(errs, errors.New("file_storage: must name the storage extension (walstorage) that keeps the files' positions"))
	}
	if len(c.Files) > 0 && c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: %q must be positive", c.PollInterval))
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("path: %q must start with /", c.Path))
	}
	if c.MaxEventBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_event_bytes: %d must be positive", c.MaxEventBytes))
	}
	if c.MaxRequestBodySize > 0 && int64(c.MaxEventBytes) > c.MaxRequestBodySize {
		errs = append(errs, fmt.Errorf("max_event_bytes: %d is larger than max_request_body_size %d", c.MaxEventBytes, c.MaxRequestBodySize))
	}
	if c.MaxEventsPerRequest <= 0 {
		errs = append(errs, fmt.Errorf("max_events_per_request: %d must be positive", c.MaxEventsPerRequest))
	}
	if c.MaxEventsPerRequest > 0 && c.MaxRequestBodySize > 0 {
		if one := requestCost(c.MaxRequestBodySize, c.MaxEventsPerRequest); c.MaxInflightBytes < one {
			errs = append(errs, fmt.Errorf("max_inflight_bytes: %d is less than one request of max_request_body_size %d with "+
				"max_events_per_request %d may hold (%d bytes: %d per byte of body, %d per event)",
				c.MaxInflightBytes, c.MaxRequestBodySize, c.MaxEventsPerRequest, one, bodyCopies, eventCost))
		}
	}
	if c.DedupWindow < 0 {
		errs = append(errs, fmt.Errorf("dedup_window: %q must not be negative", c.DedupWindow))
	}
	if c.DedupWindow > 0 && c.DedupMaxKeys <= 0 {
		errs = append(errs, fmt.Errorf("dedup_max_keys: %d must be positive when dedup_window is set", c.DedupMaxKeys))
	}
	if c.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry_after: %q must be positive", c.RetryAfter))
	}
	if !c.Auth.HasValue() && c.Cluster == "" {
		errs = append(errs, errors.New("cluster: must be set when no auth authenticator is configured "+
			"(every event needs a cluster; on a gateway configure auth: {authenticator: clusterauth})"))
	}
	return errors.Join(errs...)
}

// Unmarshal decodes the HTTP server's keys with the server's own unmarshaller (embedding it would
// otherwise hide the receiver's keys) and the receiver's keys strictly: an unknown key is an error.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	return confsplit.Unmarshal(conf, &c.ServerConfig, &c.ownConfig)
}
