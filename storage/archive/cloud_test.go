package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	kitlog "github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore/providers/azure"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// acceptance is what every bucket provider must do for the archive: append, replay the same
// write, refuse a different one, verify clean, and detect an object changed behind vigil's back.
func acceptance(t *testing.T, cfg BucketConfig) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	bkt, err := cfg.OpenBucket()
	require.NoError(t, err)
	defer bkt.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var prev *Entry
	var entries []Entry
	for s := range 3 {
		e, err := Append(ctx, bkt, stream, prev, t0, t0.Add(time.Minute), [][]byte{event(s, 0), event(s, 1)})
		require.NoError(t, err)
		entries = append(entries, e)
		prev = &entries[len(entries)-1]
	}
	_, err = Append(ctx, bkt, stream, nil, t0, t0.Add(time.Minute), [][]byte{event(0, 0), event(0, 1)})
	require.NoError(t, err, "a replay writes the same bytes and is accepted")
	_, err = Append(ctx, bkt, stream, nil, t0, t0.Add(time.Minute), [][]byte{event(9, 9)})
	require.ErrorIs(t, err, ErrRewrite)

	rep, err := Verify(ctx, bkt, stream)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, 3, rep.Objects)
	streams, err := Streams(ctx, bkt)
	require.NoError(t, err)
	require.Equal(t, []Stream{stream}, streams)

	forged, _ := Encode([][]byte{event(7, 7)})
	require.NoError(t, bkt.Upload(ctx, entries[1].Object, bytes.NewReader(forged)))
	rep, err = Verify(ctx, bkt, stream)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, ProblemModified, rep.Problems[0].Kind)
	require.Equal(t, entries[1].Object, rep.Problems[0].Object)
}

func TestArchiveOnAzurite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Azurite; skipped with -short")
	}
	conn := testutil.StartAzurite(t)
	// The operator creates the container (with its immutability policy); vigil does not.
	create := azure.DefaultConfig
	create.StorageConnectionString, create.ContainerName, create.StorageAccountName = conn, "audit", "devstoreaccount1"
	b, err := azure.NewBucketWithConfig(kitlog.NewNopLogger(), create, "test", nil)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	acceptance(t, BucketConfig{Azure: &AzureConfig{Container: "audit", ConnectionString: configopaque.String(conn)}})
}

func TestArchiveOnFakeGCS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fake-gcs-server; skipped with -short")
	}
	testutil.StartFakeGCS(t, "audit")
	acceptance(t, BucketConfig{GCS: &GCSConfig{Bucket: "audit", ServiceAccount: configopaque.String(serviceAccountJSON(t))}})
}

// serviceAccountJSON is a service account key whose token endpoint is a local stand-in of
// Google's OAuth server, so that the real credentials path runs against the emulator.
func serviceAccountJSON(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		require.NotEmpty(t, r.Form.Get("assertion"), "a signed JWT is exchanged for a token")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"test-token","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(tokens.Close)
	b, err := json.Marshal(map[string]string{"type": "service_account", "project_id": "vigil-test", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "archive@vigil-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokens.URL + "/token"})
	require.NoError(t, err)
	return string(b)
}

func TestBucketConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  BucketConfig
		want string
	}{
		{BucketConfig{}, "directory: set directory"},
		{BucketConfig{Directory: "d", GCS: &GCSConfig{Bucket: "b"}}, "set only one of directory, s3, gcs and azure"},
		{BucketConfig{GCS: &GCSConfig{}}, "gcs.bucket: must be set"},
		{BucketConfig{Azure: &AzureConfig{}}, "azure.container: must be set"},
		{BucketConfig{Azure: &AzureConfig{Container: "c"}}, "azure.storage_account: must be set"},
		{BucketConfig{Azure: &AzureConfig{Container: "c", ConnectionString: "x", StorageAccountKey: "k"}}, "set it or azure.connection_string, not both"},
		{BucketConfig{S3: &S3Config{}}, "s3.bucket: must be set"},
		{BucketConfig{S3: &S3Config{Bucket: "b", Endpoint: "e", ObjectLock: &ObjectLockConfig{Mode: "governance", RetentionDays: 1}}},
			`s3.object_lock.mode: "governance" is not GOVERNANCE or COMPLIANCE`},
		{BucketConfig{S3: &S3Config{Bucket: "b", Endpoint: "e", ObjectLock: &ObjectLockConfig{Mode: "COMPLIANCE"}}},
			"s3.object_lock.retention_days: 0 is outside 1 to 36500"},
		{BucketConfig{S3: &S3Config{Bucket: "b", Endpoint: "e", ObjectLock: &ObjectLockConfig{Mode: "COMPLIANCE", RetentionDays: 365000}}},
			"s3.object_lock.retention_days: 365000 is outside 1 to 36500"},
	}
	for _, tc := range tests {
		require.ErrorContains(t, tc.cfg.Validate(), tc.want)
	}
}
