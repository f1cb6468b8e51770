package archiveexporter

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the YAML configuration of the archive exporter.
type Config struct {
	// Directory is the filesystem bucket. Required (object-storage buckets: next step).
	Directory string `mapstructure:"directory"`
	// Tenant is the first path element of every object (default "default").
	Tenant string `mapstructure:"tenant"`
	// Storage is the walstorage extension that stages events durably. Required.
	Storage component.ID `mapstructure:"storage"`
	// MaxObjectBytes seals an object once its uncompressed events reach this size (default 16 MiB).
	MaxObjectBytes int `mapstructure:"max_object_bytes"`
	// MaxObjectAge seals an object this long after its first event arrived (default 5m).
	MaxObjectAge time.Duration `mapstructure:"max_object_age"`
	_            struct{}
}

func createDefaultConfig() *Config {
	return &Config{Tenant: "default", MaxObjectBytes: 16 << 20, MaxObjectAge: 5 * time.Minute}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory: must be set (the filesystem bucket, e.g. ${env:VIGIL_DATA_DIR}/archive)"))
	}
	if !nameRE.MatchString(c.Tenant) {
		errs = append(errs, fmt.Errorf("tenant: %q must be letters, digits, '-', '_' or '.'", c.Tenant))
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
	return errors.Join(errs...)
}
