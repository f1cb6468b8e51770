package archive

import (
	"context"
	"errors"
	"fmt"

	kitlog "github.com/go-kit/log"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/azure"
	"github.com/thanos-io/objstore/providers/gcs"
	"github.com/thanos-io/objstore/providers/s3"
	"go.opentelemetry.io/collector/config/configopaque"
)

// BucketConfig is the YAML of an archive bucket: a directory (the filesystem bucket) or S3.
type BucketConfig struct {
	// Directory is the filesystem bucket. Set it or S3.
	Directory string `mapstructure:"directory"`
	// S3 is an S3-compatible bucket (AWS S3, MinIO, ...). Takes the place of Directory.
	S3 *S3Config `mapstructure:"s3"`
	// GCS is a Google Cloud Storage bucket. Takes the place of Directory.
	GCS *GCSConfig `mapstructure:"gcs"`
	// Azure is an Azure Blob Storage container. Takes the place of Directory.
	Azure *AzureConfig `mapstructure:"azure"`
}

// GCSConfig is a Google Cloud Storage bucket. Set the bucket's retention policy (and lock it) for
// WORM retention; vigil never overwrites or deletes an object.
type GCSConfig struct {
	Bucket string `mapstructure:"bucket"`
	// ServiceAccount is a service account key (JSON). Empty: the environment's credentials
	// (workload identity, GOOGLE_APPLICATION_CREDENTIALS). Never logged.
	ServiceAccount configopaque.String `mapstructure:"service_account"`
	_              struct{}
}

// AzureConfig is an Azure Blob Storage container. Use an immutability (WORM) policy on the
// container for retention; vigil never overwrites or deletes a blob.
type AzureConfig struct {
	StorageAccount string `mapstructure:"storage_account"`
	Container      string `mapstructure:"container"`
	// StorageAccountKey authenticates with the account key; empty: the environment's credentials
	// (workload identity, managed identity). Never logged.
	StorageAccountKey configopaque.String `mapstructure:"storage_account_key"`
	// ConnectionString takes the place of the account and key (e.g. for Azurite). Never logged.
	ConnectionString configopaque.String `mapstructure:"connection_string"`
	// Endpoint is the blob service's domain (default blob.core.windows.net).
	Endpoint string `mapstructure:"endpoint"`
	_        struct{}
}

// Validate reports every problem of the bucket settings.
func (c *BucketConfig) Validate() error {
	var errs []error
	set := 0
	for _, ok := range []bool{c.Directory != "", c.S3 != nil, c.GCS != nil, c.Azure != nil} {
		if ok {
			set++
		}
	}
	switch {
	case set == 0:
		errs = append(errs, errors.New("directory: set directory (a filesystem bucket, e.g. ${env:VIGIL_DATA_DIR}/archive), s3, gcs or azure"))
	case set > 1:
		errs = append(errs, errors.New("directory: set only one of directory, s3, gcs and azure"))
	case c.GCS != nil && c.GCS.Bucket == "":
		errs = append(errs, errors.New("gcs.bucket: must be set"))
	case c.Azure != nil:
		if c.Azure.Container == "" {
			errs = append(errs, errors.New("azure.container: must be set"))
		}
		if c.Azure.ConnectionString == "" && c.Azure.StorageAccount == "" {
			errs = append(errs, errors.New("azure.storage_account: must be set (or azure.connection_string)"))
		}
		if c.Azure.ConnectionString != "" && c.Azure.StorageAccountKey != "" {
			errs = append(errs, errors.New("azure.storage_account_key: set it or azure.connection_string, not both"))
		}
	case c.S3 != nil:
		if c.S3.Bucket == "" {
			errs = append(errs, errors.New("s3.bucket: must be set"))
		}
		if c.S3.Endpoint == "" {
			errs = append(errs, errors.New("s3.endpoint: must be set, e.g. s3.eu-west-1.amazonaws.com"))
		}
		if c.S3.ObjectLock != nil {
			errs = append(errs, c.S3.ObjectLock.validate()...)
		}
	}
	return errors.Join(errs...)
}

// Describe names the bucket for people (never with credentials).
func (c *BucketConfig) Describe() string {
	switch {
	case c.S3 != nil:
		return "s3://" + c.S3.Bucket + " at " + c.S3.Endpoint
	case c.GCS != nil:
		return "gs://" + c.GCS.Bucket
	case c.Azure != nil:
		return "azure container " + c.Azure.Container + " of " + c.Azure.StorageAccount
	}
	return c.Directory
}

// S3Config is an S3 bucket. Object Lock (WORM) buckets work: every upload carries Content-MD5,
// and vigil never overwrites or deletes an object; the retention is the bucket's default, or set
// per object with ObjectLock.
type S3Config struct {
	Bucket    string              `mapstructure:"bucket"`
	Endpoint  string              `mapstructure:"endpoint"` // e.g. s3.eu-west-1.amazonaws.com or 127.0.0.1:9000
	Region    string              `mapstructure:"region"`
	AccessKey string              `mapstructure:"access_key"`
	SecretKey configopaque.String `mapstructure:"secret_key"` // never logged
	// Insecure uses http instead of https (default false).
	Insecure bool `mapstructure:"insecure"`
	// ObjectLock sets a retention on every uploaded object (the bucket must have Object Lock on).
	ObjectLock *ObjectLockConfig `mapstructure:"object_lock"`
	_          struct{}
}

// OpenBucket opens the configured bucket: the filesystem bucket under Directory, or S3. The
// exporter writes through it; `vigil archive` reads through it.
func (c *BucketConfig) OpenBucket() (objstore.Bucket, error) {
	switch {
	case c.GCS != nil:
		bkt, err := gcs.NewBucketWithConfig(context.Background(), kitlog.NewNopLogger(),
			gcs.Config{Bucket: c.GCS.Bucket, ServiceAccount: string(c.GCS.ServiceAccount)}, "vigil-archive", nil)
		if err != nil {
			return nil, fmt.Errorf("cannot open GCS bucket %q: %w", c.GCS.Bucket, err)
		}
		return bkt, nil
	case c.Azure != nil:
		cfg := azure.DefaultConfig
		cfg.StorageAccountName, cfg.ContainerName = c.Azure.StorageAccount, c.Azure.Container
		cfg.StorageAccountKey, cfg.StorageConnectionString = string(c.Azure.StorageAccountKey), string(c.Azure.ConnectionString)
		cfg.StorageCreateContainer = false // the container (and its immutability policy) is the operator's
		if c.Azure.Endpoint != "" {
			cfg.Endpoint = c.Azure.Endpoint
		}
		if cfg.StorageAccountName == "" {
			cfg.StorageAccountName = "from-connection-string"
		}
		bkt, err := azure.NewBucketWithConfig(kitlog.NewNopLogger(), cfg, "vigil-archive", nil)
		if err != nil {
			return nil, fmt.Errorf("cannot open Azure container %q: %w", c.Azure.Container, err)
		}
		return bkt, nil
	case c.S3 == nil:
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
	if s.ObjectLock != nil {
		return newLockedS3(bkt, s)
	}
	return bkt, nil
}
