package archivequeryreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/storage/archive"
)

// Config is the YAML configuration of the archivequery receiver.
type Config struct {
	// Server is the receiver's own HTTP server: endpoint (default 127.0.0.1:3101) and tls (set
	// client_ca_file to accept readers' client certificates). Not used with HTTPAPI.
	Server confighttp.ServerConfig `mapstructure:"server"`
	// HTTPAPI, if set, names the httpapi extension (vigil's API port) to serve the API on,
	// instead of Server.
	HTTPAPI *component.ID `mapstructure:"http_api"`
	// Bucket is the archive to read: directory or s3, as the archive exporter's.
	Bucket archive.BucketConfig `mapstructure:"bucket"`
	// Readers are the read-only identities. Without readers, only an endpoint on a loopback
	// address is allowed, and its requests are recorded as user "anonymous".
	Readers []Reader `mapstructure:"readers"`
	// MaxLimit caps the limit of a query (default 5000 lines).
	MaxLimit int `mapstructure:"max_limit"`
	// Timeout bounds one query (default 2m).
	Timeout time.Duration `mapstructure:"timeout"`
	// AuditCluster is the cluster name under which query records are archived (default "vigil").
	AuditCluster string `mapstructure:"audit_cluster"`
	_            struct{}
}

// Reader is a read-only identity and its credentials.
type Reader struct {
	// Name identifies the reader in the query audit records.
	Name string `mapstructure:"name"`
	// Subjects are client-certificate identities (full subject, common name, DNS/URI/e-mail SAN).
	Subjects []string `mapstructure:"subjects"`
	// BearerTokens are tokens (at least 16 characters) sent as "Authorization: Bearer <token>".
	BearerTokens []configopaque.String `mapstructure:"bearer_tokens"`
	_            struct{}
}

func createDefaultConfig() *Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = "127.0.0.1:3101"
	return &Config{Server: sc, MaxLimit: 5000, Timeout: 2 * time.Minute, AuditCluster: "vigil"}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.HTTPAPI == nil && c.Server.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("server.endpoint: must be set, e.g. 127.0.0.1:3101 (or http_api)"))
	}
	if err := c.Bucket.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("bucket: %w", err))
	}
	if c.HTTPAPI == nil && len(c.Readers) == 0 && !httpapiextension.Loopback(c.Server.NetAddr.Endpoint) {
		errs = append(errs, fmt.Errorf("readers: must be set when server.endpoint %q is not a loopback address (anonymous reads are local only)",
			c.Server.NetAddr.Endpoint))
	}
	names, subjects, tokens := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, r := range c.Readers {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("readers[%d].name: must be set", i))
		case names[r.Name]:
			errs = append(errs, fmt.Errorf("readers[%d].name: %q is listed twice", i, r.Name))
		}
		names[r.Name] = true
		if len(r.Subjects) == 0 && len(r.BearerTokens) == 0 {
			errs = append(errs, fmt.Errorf("readers[%d] (%s): needs subjects or bearer_tokens", i, r.Name))
		}
		for _, s := range r.Subjects {
			if subjects[s] {
				errs = append(errs, fmt.Errorf("readers[%d].subjects: %q is listed twice", i, s))
			}
			subjects[s] = true
		}
		for j, t := range r.BearerTokens {
			if len(t) < 16 {
				errs = append(errs, fmt.Errorf("readers[%d].bearer_tokens[%d]: shorter than 16 characters", i, j))
			}
			if tokens[string(t)] {
				errs = append(errs, fmt.Errorf("readers[%d].bearer_tokens[%d]: listed twice", i, j))
			}
			tokens[string(t)] = true
		}
	}
	if c.MaxLimit <= 0 {
		errs = append(errs, fmt.Errorf("max_limit: %d must be positive", c.MaxLimit))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %q must be positive", c.Timeout))
	}
	if c.AuditCluster == "" {
		errs = append(errs, errors.New("audit_cluster: must be set (the cluster name of query records in the archive)"))
	}
	return errors.Join(errs...)
}
