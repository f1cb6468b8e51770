package promrwexporter

import (
	"errors"
	"fmt"
	"net/url"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-obs/vigil/internal/confsplit"
)

// Config is the YAML configuration of the promrw exporter.
type Config struct {
	// ClientConfig is the HTTP client: endpoint (required, e.g.
	// http://prometheus:9090/api/v1/write), tls, headers, auth, timeout.
	confighttp.ClientConfig `mapstructure:",squash"`
	ownConfig               `mapstructure:",squash"`
}

// ownConfig holds the exporter's own keys, beside the HTTP client's.
type ownConfig struct {
	// QueueConfig is exporterhelper's sending queue (default enabled, in memory); set
	// storage: walstorage to keep batches across restarts and outages.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig retries 5xx and 429 answers (default: enabled, max_elapsed_time 0s, never give
	// up on a queued batch).
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// ExternalLabels are added to every series (default none).
	ExternalLabels map[string]string `mapstructure:"external_labels"`
}

func createDefaultConfig() *Config {
	cc := confighttp.NewDefaultClientConfig()
	rc := configretry.NewDefaultBackOffConfig()
	rc.MaxElapsedTime = 0
	return &Config{ClientConfig: cc, ownConfig: ownConfig{RetryConfig: rc,
		QueueConfig: configoptional.Some(exporterhelper.NewDefaultQueueConfig())}}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set to the remote-write URL, e.g. http://prometheus:9090/api/v1/write (Prometheus started with --web.enable-remote-write-receiver); the role configs read it from VIGIL_PROMRW_URL"))
	} else if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: %q is not an http(s) URL", c.Endpoint))
	}
	for k := range c.ExternalLabels {
		if k == "" || k == "__name__" {
			errs = append(errs, fmt.Errorf("external_labels: %q is not allowed as a label name", k))
		}
	}
	return errors.Join(errs...)
}

// Unmarshal decodes the HTTP client's keys with the client's own unmarshaller (embedding it
// otherwise makes the whole Config a confmap.Unmarshaler that decodes the client's keys alone and
// silently drops sending_queue, retry_on_failure and external_labels) and the exporter's keys
// strictly: an unknown key is an error.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	return confsplit.Unmarshal(conf, &c.ClientConfig, &c.ownConfig)
}
