package archive

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/thanos-io/objstore"
)

// MaxRetentionDays bounds s3.object_lock.retention_days (100 years): a typo of a few zeros in a
// compliance-mode retention could otherwise lock objects, and their cost, for millennia.
const MaxRetentionDays = 36500

// ObjectLockConfig puts an S3 Object Lock retention on every object vigil uploads, counted from
// the upload. The bucket must have been created with Object Lock enabled.
type ObjectLockConfig struct {
	// Mode is GOVERNANCE (users with s3:BypassGovernanceRetention may still delete) or
	// COMPLIANCE (nobody can delete an object version, or shorten its retention, until it ends).
	Mode string `mapstructure:"mode"`
	// RetentionDays is how long each object is retained (1 to 36500).
	RetentionDays int `mapstructure:"retention_days"`
	_             struct{}
}

func (c *ObjectLockConfig) validate() []error {
	var errs []error
	if c.Mode != string(minio.Governance) && c.Mode != string(minio.Compliance) {
		errs = append(errs, fmt.Errorf("s3.object_lock.mode: %q is not GOVERNANCE or COMPLIANCE", c.Mode))
	}
	if c.RetentionDays < 1 || c.RetentionDays > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("s3.object_lock.retention_days: %d is outside 1 to %d", c.RetentionDays, MaxRetentionDays))
	}
	return errs
}

// lockedS3 is an S3 bucket whose uploads carry an Object Lock retention; everything else goes
// through the objstore bucket.
type lockedS3 struct {
	objstore.Bucket
	client *minio.Client
	bucket string
	lock   ObjectLockConfig
	now    func() time.Time
}

func newLockedS3(inner objstore.Bucket, s *S3Config) (*lockedS3, error) {
	var creds *credentials.Credentials
	if s.AccessKey != "" {
		creds = credentials.NewStaticV4(s.AccessKey, string(s.SecretKey), "")
	} else { // as the objstore bucket does: environment, shared credentials file, instance role
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: creds, Secure: !s.Insecure, Region: s.Region})
	if err != nil {
		return nil, fmt.Errorf("cannot open S3 bucket %q at %s for Object Lock uploads: %w", s.Bucket, s.Endpoint, err)
	}
	return &lockedS3{Bucket: inner, client: c, bucket: s.Bucket, lock: *s.ObjectLock, now: time.Now}, nil
}

// Upload writes the object with Content-MD5 (required with Object Lock) and a retention of
// lock.RetentionDays from now in lock.Mode.
func (b *lockedS3) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	size, err := objstore.TryToGetSize(r)
	if err != nil {
		size = -1
	}
	until := b.now().UTC().AddDate(0, 0, b.lock.RetentionDays)
	_, err = b.client.PutObject(ctx, b.bucket, name, r, size, minio.PutObjectOptions{
		SendContentMd5:  true,
		Mode:            minio.RetentionMode(b.lock.Mode),
		RetainUntilDate: until,
		ContentType:     objstore.ApplyObjectUploadOptions(opts...).ContentType,
	})
	if err != nil {
		hint := ""
		if msg := strings.ToLower(err.Error()); strings.Contains(msg, "object lock") || strings.Contains(msg, "objectlock") {
			hint = ": the bucket must be created with Object Lock enabled"
		}
		return fmt.Errorf("cannot upload %s with a %s retention until %s (s3.object_lock%s): %w",
			name, b.lock.Mode, until.Format(time.RFC3339), hint, err)
	}
	return nil
}
