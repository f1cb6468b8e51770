package archivequeryreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"
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
	// address is allowed, and its requests are recorded as user "anonymous". With http_api they
	// are added to the API port's readers, and guard every path of the port.
	Readers []Reader `mapstructure:"readers"`
	// MaxLimit caps the limit of a query (default 5000 lines).
	MaxLimit int `mapstructure:"max_limit"`
	// MaxQuerySeries bounds the series of a metric query's answer (default 500, as Loki's
	// max_query_series); a query over it is refused with 400.
	MaxQuerySeries int `mapstructure:"max_query_series"`
	// MaxPoints bounds the steps of a metric range query, (end-start)/step (default 11000, also
	// the most Loki's API accepts); a query over it is refused with 400.
	MaxPoints int `mapstructure:"max_points"`
	// Timeout bounds one query (default 2m).
	Timeout time.Duration `mapstructure:"timeout"`
	// AuditCluster is the cluster name under which query records are archived (default "vigil").
	AuditCluster string `mapstructure:"audit_cluster"`
	_            struct{}
}

// Reader is a read-only identity and its credentials, as the API port's.
type Reader = httpapiextension.Reader

func createDefaultConfig() *Config {
	sc := confighttp.NewDefaultServerConfig()
	sc.NetAddr.Endpoint = "127.0.0.1:3101"
	return &Config{Server: sc, MaxLimit: 5000, MaxQuerySeries: archivequery.DefaultMaxSeries,
		MaxPoints: archivequery.DefaultMaxPoints, Timeout: 2 * time.Minute, AuditCluster: "vigil"}
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
	errs = append(errs, httpapiextension.ValidateReaders("readers", c.Readers)...)
	if c.MaxLimit <= 0 {
		errs = append(errs, fmt.Errorf("max_limit: %d must be positive", c.MaxLimit))
	}
	if c.MaxQuerySeries <= 0 {
		errs = append(errs, fmt.Errorf("max_query_series: %d must be positive", c.MaxQuerySeries))
	}
	if c.MaxPoints <= 0 || c.MaxPoints > archivequery.DefaultMaxPoints {
		errs = append(errs, fmt.Errorf("max_points: %d must be between 1 and %d", c.MaxPoints, archivequery.DefaultMaxPoints))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %q must be positive", c.Timeout))
	}
	if c.AuditCluster == "" {
		errs = append(errs, errors.New("audit_cluster: must be set (the cluster name of query records in the archive)"))
	}
	return errors.Join(errs...)
}
