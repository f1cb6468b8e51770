package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOInstall is how .ci/run (and a developer) installs the MinIO server.
const MinIOInstall = "go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c (about 4 minutes)"

// MinIO is a real MinIO server on 127.0.0.1.
type MinIO struct {
	Endpoint             string // host:port
	AccessKey, SecretKey string
	Client               *minio.Client
}

// StartMinIO runs a MinIO server with a data directory of the test; it skips (fails in CI) when
// the minio binary is not installed.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := RequireBinary(t, "minio", MinIOInstall)
	m := &MinIO{Endpoint: FreeAddr(t), AccessKey: "vigil-test", SecretKey: "vigil-test-secret-key"}
	p := Start(t, "minio", []string{"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off"},
		bin, "server", t.TempDir(), "--address", m.Endpoint, "--console-address", FreeAddr(t), "--quiet")
	WaitHTTP(t, "http://"+m.Endpoint+"/minio/health/live", 60*time.Second, p)
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	m.Client = c
	return m
}

// MakeBucket creates a bucket; with worm it has S3 Object Lock on and a default retention of one
// day in governance mode, as a compliance archive would (in compliance mode).
func (m *MinIO) MakeBucket(t testing.TB, name string, worm bool) {
	t.Helper()
	ctx := context.Background()
	if err := m.Client.MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: worm}); err != nil {
		t.Fatalf("cannot create bucket %s: %v", name, err)
	}
	if worm {
		mode, validity, unit := minio.Governance, uint(1), minio.Days
		if err := m.Client.SetObjectLockConfig(ctx, name, &mode, &validity, &unit); err != nil {
			t.Fatalf("cannot set object lock on %s: %v", name, err)
		}
	}
}
