package archiveexporter

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/storage/archive"
)

// Config is the YAML configuration of the archive exporter.
type Config struct {
	// BucketConfig is the bucket: directory (a filesystem bucket) or s3 (S3Config).
	archive.BucketConfig `mapstructure:",squash"`
	// Tenant is the first path element of every object (default "default").
	Tenant string `mapstructure:"tenant"`
	// Writer names this exporter's streams when several gateways archive the same clusters into
	// one bucket: each writes its own chain per cluster, under audit/<tenant>/<cluster>/writers/<writer>/
	// (set it from the pod name). Empty (default): one writer, audit/<tenant>/<cluster>/.
	Writer string `mapstructure:"writer"`
	// Storage is the walstorage extension that stages events durably. Required.
	Storage component.ID `mapstructure:"storage"`
	// MaxObjectBytes seals an object once its uncompressed events reach this size (default 16 MiB).
	MaxObjectBytes int `mapstructure:"max_object_bytes"`
	// MaxObjectAge seals an object this long after its first event arrived (default 5m).
	MaxObjectAge time.Duration `mapstructure:"max_object_age"`
	// SealInterval is how often each stream's chain head is sealed (a seal object beside the
	// manifest, a log line and the vigil_archive_sealed_entry gauge: anchors that show a cut-off
	// chain), and on shutdown (default 1h).
	SealInterval time.Duration `mapstructure:"seal_interval"`
	// SealKeyFile is an Ed25519 private key (PEM, PKCS #8) that signs the seals. Optional.
	SealKeyFile string `mapstructure:"seal_key_file"`
	_           struct{}
}

func createDefaultConfig() *Config {
	return &Config{Tenant: "default", MaxObjectBytes: 16 << 20, MaxObjectAge: 5 * time.Minute, SealInterval: time.Hour}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate reports every problem of the configuration at once. The bucket's settings are
// validated by their own Validate, which the collector calls on the embedded BucketConfig.
func (c *Config) Validate() error {
	var errs []error
	if !nameRE.MatchString(c.Tenant) {
		errs = append(errs, fmt.Errorf("tenant: %q must be letters, digits, '-', '_' or '.'", c.Tenant))
	}
	if !archive.ValidWriter(c.Writer) {
		errs = append(errs, fmt.Errorf("writer: %q must be empty or at most 253 letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. the pod name)", c.Writer))
	}
	if c.Storage.Type().String() == "" {
		errs = append(errs, errors.New("storage: must name the walstorage extension that stages events (e.g. walstorage)"))
	}
	if c.MaxObjectBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_object_bytes: %d is below the minimum of 1024", c.MaxObjectBytes))
	}
	if c.MaxObjectAge < time.Second {
		errs = append(errs, fmt.Errorf("max_object_age: %q must be at least 1s", c.MaxObjectAge))
	}
	if c.SealInterval < time.Second {
		errs = append(errs, fmt.Errorf("seal_interval: %q must be at least 1s", c.SealInterval))
	}
	if c.SealKeyFile != "" {
		if _, err := archive.LoadPrivateKey(c.SealKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("seal_key_file: %w", err))
		}
	}
	return errors.Join(errs...)
}
