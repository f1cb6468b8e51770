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
	err = m.Client.RemoveObject(ctx, "audit-archive", entries[1].Object, minio.RemoveObjectOptions{VersionID: versionOf(t, m, entries[1].Object)})
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

func versionOf(t *testing.T, m *testutil.MinIO, name string) string {
	t.Helper()
	info, err := m.Client.StatObject(context.Background(), "audit-archive", name, minio.StatObjectOptions{})
	require.NoError(t, err)
	return info.VersionID
}
