package archive

import (
	"errors"
	"fmt"

	kitlog "github.com/go-kit/log"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/s3"
	"go.opentelemetry.io/collector/config/configopaque"
)

// BucketConfig is the YAML of an archive bucket: a directory (the filesystem bucket) or S3.
type BucketConfig struct {
	// Directory is the filesystem bucket. Set it or S3.
	Directory string `mapstructure:"directory"`
	// S3 is an S3-compatible bucket (AWS S3, MinIO, ...). Takes the place of Directory.
	S3 *S3Config `mapstructure:"s3"`
}

// Validate reports every problem of the bucket settings.
func (c *BucketConfig) Validate() error {
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
	return errors.Join(errs...)
}

// Describe names the bucket for people (never with credentials).
func (c *BucketConfig) Describe() string {
	if c.S3 != nil {
		return "s3://" + c.S3.Bucket + " at " + c.S3.Endpoint
	}
	return c.Directory
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

// OpenBucket opens the configured bucket: the filesystem bucket under Directory, or S3. The
// exporter writes through it; `vigil archive` reads through it.
func (c *BucketConfig) OpenBucket() (objstore.Bucket, error) {
	if c.S3 == nil {
		return NewFilesystemBucket(c.Directory)
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
