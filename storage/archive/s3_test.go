package archive

import (
	"bytes"
	"context"
	"testing"
	"time"

	kitlog "github.com/go-kit/log"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore/providers/s3"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestArchiveOnMinIOWithObjectLock writes, replays, verifies and detects tampering on a real
// MinIO bucket with S3 Object Lock (WORM) and a default retention.
func TestArchiveOnMinIOWithObjectLock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO; skipped with -short")
	}
	m := testutil.StartMinIO(t)
	m.MakeBucket(t, "audit-archive", true)
	cfg := s3.DefaultConfig
	cfg.Bucket, cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Insecure = "audit-archive", m.Endpoint, m.AccessKey, m.SecretKey, true
	bkt, err := s3.NewBucketWithConfig(kitlog.NewNopLogger(), cfg, "vigil-test", nil)
	require.NoError(t, err)
	ctx := context.Background()

	var prev *Entry
	var entries []Entry
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for s := range 3 {
		evs := [][]byte{event(s, 0), event(s, 1), event(s, 2)}
		e, err := Append(ctx, bkt, stream, prev, t0, t0.Add(time.Minute), evs)
		require.NoError(t, err, "Object Lock buckets need Content-MD5 on every upload")
		entries = append(entries, e)
		prev = &entries[len(entries)-1]
	}
	// A replay after a crash is accepted; different bytes under an existing name are refused.
	_, err = Append(ctx, bkt, stream, nil, t0, t0.Add(time.Minute), [][]byte{event(0, 0), event(0, 1), event(0, 2)})
	require.NoError(t, err)
	_, err = Append(ctx, bkt, stream, nil, t0, t0.Add(time.Minute), [][]byte{event(9, 9)})
	require.ErrorIs(t, err, ErrRewrite)

	rep, err := Verify(ctx, bkt, stream)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, 3, rep.Objects)

	// The objects are under retention: deleting them is refused by the bucket.
	err = m.Client.RemoveObject(ctx, "audit-archive", entries[1].Object, minio.RemoveObjectOptions{VersionID: versionIn(t, m, "audit-archive", entries[1].Object)})
	require.Error(t, err, "a WORM bucket refuses to delete a retained object version")

	// Someone with write access uploads a new version of an object: the latest version no longer
	// has the manifest's hash.
	forged, _ := Encode([][]byte{[]byte(`{"auditID":"forged"}`)})
	_, err = m.Client.PutObject(ctx, "audit-archive", entries[1].Object, bytes.NewReader(forged), int64(len(forged)),
		minio.PutObjectOptions{SendContentMd5: true})
	require.NoError(t, err)
	rep, err = Verify(ctx, bkt, stream)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, ProblemModified, rep.Problems[0].Kind)
	require.Equal(t, entries[1].Object, rep.Problems[0].Object)
}

// TestObjectLockRetentionOnEveryObject: with s3.object_lock every object vigil writes (the
// events, their index, the manifest entry) carries the configured retention, which the bucket
// enforces; on a bucket without Object Lock the upload fails naming the setting.
func TestObjectLockRetentionOnEveryObject(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO; skipped with -short")
	}
	m := testutil.StartMinIO(t)
	m.MakeBucket(t, "locked", true) // its default: GOVERNANCE for one day
	m.MakeBucket(t, "unlocked", false)
	cfg := BucketConfig{S3: &S3Config{Bucket: "locked", Endpoint: m.Endpoint, AccessKey: m.AccessKey,
		SecretKey: configopaque.String(m.SecretKey), Insecure: true,
		ObjectLock: &ObjectLockConfig{Mode: "COMPLIANCE", RetentionDays: 3}}}
	require.NoError(t, cfg.Validate())
	bkt, err := cfg.OpenBucket()
	require.NoError(t, err)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	before := time.Now()
	e, err := Append(ctx, bkt, stream, nil, t0, t0.Add(time.Minute), [][]byte{event(0, 0), event(0, 1)})
	require.NoError(t, err)
	for _, name := range []string{e.Object, e.Index, stream.ManifestName(e.Seq)} {
		mode, until, err := m.Client.GetObjectRetention(ctx, "locked", name, "")
		require.NoError(t, err, name)
		require.Equal(t, minio.Compliance, *mode, name)
		require.WithinDuration(t, before.AddDate(0, 0, 3), *until, 2*time.Minute, name)
	}
	// Compliance mode: not even a governance bypass deletes the version.
	err = m.Client.RemoveObject(ctx, "locked", e.Object, minio.RemoveObjectOptions{VersionID: versionIn(t, m, "locked", e.Object), GovernanceBypass: true})
	require.Error(t, err)
	rep, err := Verify(ctx, bkt, stream)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)

	cfg.S3.Bucket = "unlocked"
	bkt, err = cfg.OpenBucket()
	require.NoError(t, err)
	_, err = Append(ctx, bkt, stream, nil, t0, t0.Add(time.Minute), [][]byte{event(0, 0)})
	require.ErrorContains(t, err, "s3.object_lock")
}

func versionIn(t *testing.T, m *testutil.MinIO, bucket, name string) string {
	t.Helper()
	info, err := m.Client.StatObject(context.Background(), bucket, name, minio.StatObjectOptions{})
	require.NoError(t, err)
	return info.VersionID
}
