package archiveexporter

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	kitlog "github.com/go-kit/log"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/s3"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/storage/archive"
)

// Config is the YAML configuration of the archive exporter.
type Config struct {
	// Directory is the filesystem bucket. Set it or S3.
	Directory string `mapstructure:"directory"`
	// S3 is an S3-compatible bucket (AWS S3, MinIO, ...). Takes the place of Directory.
	S3 *S3Config `mapstructure:"s3"`
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

// S3Config is an S3 bucket. Object Lock (WORM) buckets work: every upload carries Content-MD5,
// and vigil never overwrites or deletes an object; set the retention as the bucket's default.
type S3Config struct {
	Bucket    string              `mapstructure:"bucket"`
	Endpoint  string              `mapstructure:"endpoint"` // e.g. s3.eu-west-1.amazonaws.com or 127.0.0.1:9000
	Region    string              `mapstructure:"region"`
	AccessKey string              `mapstructure:"access_key"`
	SecretKey configopaque.String `mapstructure:"secret_key"` // never logged
	// Insecure uses http instead of https (default false).
	Insecure bool `mapstructure:"insecure"`
	_        struct{}
}

func createDefaultConfig() *Config {
	return &Config{Tenant: "default", MaxObjectBytes: 16 << 20, MaxObjectAge: 5 * time.Minute}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Directory == "" && c.S3 == nil:
		errs = append(errs, errors.New("directory: set directory (a filesystem bucket, e.g. ${env:VIGIL_DATA_DIR}/archive) or s3"))
	case c.Directory != "" && c.S3 != nil:
		errs = append(errs, errors.New("directory: set directory or s3, not both"))
	case c.S3 != nil:
		if c.S3.Bucket == "" {
			errs = append(errs, errors.New("s3.bucket: must be set"))
		}
		if c.S3.Endpoint == "" {
			errs = append(errs, errors.New("s3.endpoint: must be set, e.g. s3.eu-west-1.amazonaws.com"))
		}
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

// OpenBucket opens the configured bucket: the filesystem bucket under Directory, or S3. The
// exporter writes through it; `vigil archive` reads through it.
func (c *Config) OpenBucket() (objstore.Bucket, error) {
	if c.S3 == nil {
		return archive.NewFilesystemBucket(c.Directory)
	}
	s := c.S3
	cfg := s3.DefaultConfig
	cfg.Bucket, cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey = s.Bucket, s.Endpoint, s.Region, s.AccessKey, string(s.SecretKey)
	cfg.Insecure, cfg.SendContentMd5 = s.Insecure, true // Content-MD5: required by Object Lock buckets
	bkt, err := s3.NewBucketWithConfig(kitlog.NewNopLogger(), cfg, "vigil-archive", nil)
	if err != nil {
		return nil, fmt.Errorf("cannot open S3 bucket %q at %s: %w", s.Bucket, s.Endpoint, err)
	}
	return bkt, nil
}
