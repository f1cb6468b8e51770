package lokipushexporter

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-obs/vigil/internal/confsplit"
)

// PushPath is where Loki's push API listens, appended to endpoint.
const PushPath = "/loki/api/v1/push"

// Config is the YAML configuration of the lokipush exporter.
type Config struct {
	// ClientConfig is the HTTP client: endpoint (Loki's base URL, e.g. http://loki:3100; required),
	// tls, auth (an authenticator extension), headers, timeout (default 30s), proxy_url.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// DefaultTenant is sent as X-Scope-OrgID for clusters not listed in tenants. Default "":
	// no header (a Loki with auth_enabled: false).
	DefaultTenant string `mapstructure:"default_tenant"`
	// Tenants maps a cluster (k8s.cluster.name) to its Loki tenant (X-Scope-OrgID). Default: none.
	Tenants map[string]string `mapstructure:"tenants"`
	// DeadLetterDir receives, as NDJSON, the streams Loki rejected with a 4xx other than 429,
	// with Loki's reason. Required.
	DeadLetterDir string `mapstructure:"dead_letter_dir"`

	// QueueConfig is exporterhelper's sending_queue; set storage to the walstorage extension
	// for a durable queue. RetryConfig is retry_on_failure (default: never give up, max_elapsed_time 0).
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	_           struct{}
}

// ownKeys are the exporter's own keys, beside the HTTP client's.
type ownKeys struct {
	DefaultTenant string                                                   `mapstructure:"default_tenant"`
	Tenants       map[string]string                                        `mapstructure:"tenants"`
	DeadLetterDir string                                                   `mapstructure:"dead_letter_dir"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
}

// Unmarshal decodes the HTTP client's keys with the client's own unmarshaller and the exporter's
// keys strictly: an unknown key is an error (decoded as one struct, a misspelt key was silently
// ignored).
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	own := ownKeys{DefaultTenant: c.DefaultTenant, Tenants: c.Tenants, DeadLetterDir: c.DeadLetterDir,
		QueueConfig: c.QueueConfig, RetryConfig: c.RetryConfig}
	if err := confsplit.Unmarshal(conf, &c.ClientConfig, &own); err != nil {
		return err
	}
	c.DefaultTenant, c.Tenants, c.DeadLetterDir = own.DefaultTenant, own.Tenants, own.DeadLetterDir
	c.QueueConfig, c.RetryConfig = own.QueueConfig, own.RetryConfig
	return nil
}

func createDefaultConfig() *Config {
	cc := confighttp.NewDefaultClientConfig()
	cc.Timeout = 30 * time.Second
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0 // retry until Loki takes the logs: the (bounded) queue pushes back meanwhile
	return &Config{
		ClientConfig: cc,
		QueueConfig:  configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:  retry,
	}
}

// tenantRE is what Loki allows in a tenant ID (its docs: at most 150 bytes of letters, digits
// and !-_.*'(), not "." or "..").
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9!\-_.*'()]{1,150}$`)

func validTenant(t string) bool { return tenantRE.MatchString(t) && t != "." && t != ".." }

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set to Loki's base URL, e.g. http://loki:3100"))
	} else if u, err := url.Parse(c.ClientConfig.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: %q is not an http(s) URL", c.ClientConfig.Endpoint))
	}
	if c.DefaultTenant != "" && !validTenant(c.DefaultTenant) {
		errs = append(errs, fmt.Errorf("default_tenant: %q is not a Loki tenant ID (1-150 of letters, digits and !-_.*'())", c.DefaultTenant))
	}
	for cluster, t := range c.Tenants {
		if !validTenant(t) {
			errs = append(errs, fmt.Errorf("tenants[%q]: %q is not a Loki tenant ID (1-150 of letters, digits and !-_.*'())", cluster, t))
		}
	}
	if c.DeadLetterDir == "" {
		errs = append(errs, errors.New("dead_letter_dir: must be set (e.g. ${env:VIGIL_DATA_DIR}/deadletter/loki)"))
	}
	return errors.Join(errs...)
}

// tenant returns the tenant of a cluster.
func (c *Config) tenant(cluster string) string {
	if t, ok := c.Tenants[cluster]; ok {
		return t
	}
	return c.DefaultTenant
}
