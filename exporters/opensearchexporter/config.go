package opensearchexporter

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the YAML configuration of the opensearch exporter.
type Config struct {
	// Endpoints are the OpenSearch nodes, e.g. https://opensearch:9200. Required.
	Endpoints []string `mapstructure:"endpoints"`
	// Username and Password for HTTP basic authentication (never logged). Default: none.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// TLS for https endpoints (ca_file, cert_file, key_file, insecure_skip_verify).
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// IndexPrefix: documents go to <index_prefix>-YYYY.MM.DD by event time (default "vigil-audit").
	IndexPrefix string `mapstructure:"index_prefix"`
	// Retention: the ISM policy deletes an index this long after its creation (default 720h = 30 days).
	Retention time.Duration `mapstructure:"retention"`
	// ItemRetries: how often a bulk item rejected with 429 or 5xx is re-sent within one push
	// (default 5); after that the push fails and the queue retries it later.
	ItemRetries int `mapstructure:"item_retries"`
	// ItemBackoff is the first wait before re-sending rejected items; it doubles, with jitter (default 200ms).
	ItemBackoff time.Duration `mapstructure:"item_backoff"`
	// DeadLetterDir receives, as NDJSON, the documents OpenSearch rejected permanently (4xx). Required.
	DeadLetterDir string `mapstructure:"dead_letter_dir"`
	// MaxBulkBytes splits pushes into bulk requests of at most this many bytes (default 5242880).
	MaxBulkBytes int `mapstructure:"max_bulk_bytes"`

	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
}

func createDefaultConfig() *Config {
	return &Config{
		IndexPrefix:   "vigil-audit",
		Retention:     30 * 24 * time.Hour,
		ItemRetries:   5,
		ItemBackoff:   200 * time.Millisecond,
		MaxBulkBytes:  5 << 20,
		TimeoutConfig: exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:   configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:   configretry.NewDefaultBackOffConfig(),
	}
}

var indexPrefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("endpoints: must list at least one OpenSearch URL, e.g. https://opensearch:9200"))
	}
	for i, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoints[%d]: %q is not an http(s) URL", i, e))
		}
	}
	if !indexPrefixRE.MatchString(c.IndexPrefix) {
		errs = append(errs, fmt.Errorf("index_prefix: %q must be lowercase letters, digits, '-', '_' or '.'", c.IndexPrefix))
	}
	if c.Retention < time.Hour {
		errs = append(errs, fmt.Errorf("retention: %q must be at least 1h", c.Retention))
	}
	if c.ItemRetries < 0 {
		errs = append(errs, fmt.Errorf("item_retries: %d must not be negative", c.ItemRetries))
	}
	if c.ItemBackoff <= 0 {
		errs = append(errs, fmt.Errorf("item_backoff: %q must be positive", c.ItemBackoff))
	}
	if c.DeadLetterDir == "" {
		errs = append(errs, errors.New("dead_letter_dir: must be set (e.g. ${env:VIGIL_DATA_DIR}/deadletter/opensearch)"))
	}
	if c.MaxBulkBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_bulk_bytes: %d is below the minimum of 1024", c.MaxBulkBytes))
	}
	return errors.Join(errs...)
}
