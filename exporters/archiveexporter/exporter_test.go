package archiveexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/wal"
)

// env is a walstorage extension and an archive directory that survive restarts of the exporter.
// With plain, the exporter sees only the storage.Client interface of walstorage's clients, as
// with any other storage extension.
type env struct {
	queueDir, archiveDir string
	plain                bool
	writer               string // the exporter's writer (empty: none)
}

// plainStorage gives out clients with no more than storage.Client's methods.
type plainStorage struct{ storage.Extension }

func (p plainStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := p.Extension.GetClient(ctx, kind, id, name)
	return struct{ storage.Client }{c}, err
}

func (v env) start(t *testing.T, maxBytes int) (*archiveExporter, extension.Extension) {
	t.Helper()
	return v.startWith(t, maxBytes, nil)
}

func (v env) startWith(t *testing.T, maxBytes int, s3cfg *archive.S3Config) (*archiveExporter, extension.Extension) {
	t.Helper()
	wcfg := walstorageextension.NewFactory().CreateDefaultConfig().(*walstorageextension.Config)
	wcfg.Directory = v.queueDir
	ws, err := walstorageextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(walstorageextension.Type), wcfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(context.Background(), componenttest.NewNopHost()))
	cfg := createDefaultConfig()
	cfg.Directory, cfg.Storage, cfg.MaxObjectBytes = v.archiveDir, component.NewID(walstorageextension.Type), maxBytes
	cfg.Writer = v.writer
	if s3cfg != nil {
		cfg.Directory, cfg.S3 = "", s3cfg
	}
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	set.ID = component.NewID(Type) // stable across restarts, as in a collector
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	e := exp.(*archiveExporter)
	var host component.Component = ws
	if v.plain {
		host = plainStorage{ws.(storage.Extension)}
	}
	require.NoError(t, e.Start(context.Background(), testutil.Host(map[component.ID]component.Component{cfg.Storage: host})))
	return e, ws
}

func logs(cluster string, from, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := from; i < from+n; i++ {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf(`{"auditID":"%s-%05d","stage":"ResponseComplete"}`, cluster, i))
		lr.Attributes().PutStr("k8s.audit.id", fmt.Sprintf("%s-%05d", cluster, i))
		lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 0, i%60, 0, time.UTC)))
	}
	return ld
}

// contents reads every event of a stream through its manifest, after verifying it.
func contents(t *testing.T, dir, cluster string) []string {
	t.Helper()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	s := archive.Stream{Tenant: "default", Cluster: cluster}
	rep, err := archive.Verify(context.Background(), bkt, s)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	var out []string
	for seq := uint64(1); seq <= uint64(rep.Entries); seq++ {
		rc, err := bkt.Get(context.Background(), s.ManifestName(seq))
		require.NoError(t, err)
		rc.Close()
	}
	require.NoError(t, bkt.Iter(context.Background(), s.Prefix(), func(name string) error {
		if len(name) > 11 && name[len(name)-11:] == ".ndjson.zst" {
			rc, err := bkt.Get(context.Background(), name)
			require.NoError(t, err)
			defer rc.Close()
			buf := make([]byte, 0, 1024)
			tmp := make([]byte, 4096)
			for {
				n, err := rc.Read(tmp)
				buf = append(buf, tmp[:n]...)
				if err != nil {
					break
				}
			}
			evs, err := archive.Decode(buf)
			require.NoError(t, err)
			for _, ev := range evs {
				out = append(out, string(ev))
			}
		}
		return nil
	}, objstoreRecursive()))
	return out
}

// manifest reads the manifest of cluster's stream in the filesystem archive dir.
func manifest(t *testing.T, dir, cluster string) (objstore.Bucket, archive.Stream, []archive.Entry) {
	t.Helper()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	s := archive.Stream{Tenant: "default", Cluster: cluster}
	entries, err := archive.Manifest(context.Background(), bkt, s)
	require.NoError(t, err)
	return bkt, s, entries
}

func TestArchivesEveryEventOnceAcrossRestarts(t *testing.T) {
	t.Run("walstorage", func(t *testing.T) { testArchivesEveryEventOnceAcrossRestarts(t, false) })
	t.Run("any storage", func(t *testing.T) { testArchivesEveryEventOnceAcrossRestarts(t, true) })
}

func testArchivesEveryEventOnceAcrossRestarts(t *testing.T, plain bool) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir(), plain: plain}
	ctx := context.Background()
	e, ws := v.start(t, 2000)
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 0, 30)))
	require.NoError(t, e.ConsumeLogs(ctx, logs("b", 0, 5)))
	// A crash: the exporter never shuts down; only the staging storage is closed (as by SIGKILL,
	// everything acknowledged is already fsync'd).
	close(e.stop)
	<-e.done
	require.NoError(t, ws.Shutdown(ctx))

	e2, ws2 := v.start(t, 2000)
	require.NoError(t, e2.ConsumeLogs(ctx, logs("a", 25, 10)), "the apiserver re-sends what it saw no answer for")
	require.NoError(t, e2.ConsumeLogs(ctx, logs("a", 30, 30)))
	require.NoError(t, e2.Shutdown(ctx))
	require.NoError(t, ws2.Shutdown(ctx))

	got := contents(t, v.archiveDir, "a")
	require.Len(t, got, 60)
	seen := map[string]bool{}
	for _, ev := range got {
		require.False(t, seen[ev], "event %s archived twice", ev)
		seen[ev] = true
	}
	require.Len(t, contents(t, v.archiveDir, "b"), 5)
}

func objstoreRecursive() objstore.IterOption { return objstore.WithRecursiveIter() }

func TestArchivesToS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO; skipped with -short")
	}
	m := testutil.StartMinIO(t)
	m.MakeBucket(t, "vigil-archive", true)
	v := env{queueDir: t.TempDir()}
	ctx := context.Background()
	e, ws := v.startWith(t, 1<<20, &archive.S3Config{Bucket: "vigil-archive", Endpoint: m.Endpoint, AccessKey: m.AccessKey,
		SecretKey: configopaque.String(m.SecretKey), Insecure: true})
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 0, 50)))
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))

	rep, err := archive.Verify(ctx, e.bucket, archive.Stream{Tenant: "default", Cluster: "a"})
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, 1, rep.Objects)
}

// TestShutdownSealsTheChain: the head of every chain is sealed (beside the manifest, logged, and
// as a gauge), so that a chain cut off later is detected.
func TestShutdownSealsTheChain(t *testing.T) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	e, ws := v.start(t, 1<<20)
	ctx := context.Background()
	require.NoError(t, e.ConsumeLogs(ctx, logs("a", 0, 50)))
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))

	bkt, s, entries := manifest(t, v.archiveDir, "a")
	require.Len(t, entries, 1)
	rc, err := bkt.Get(ctx, s.SealName(1))
	require.NoError(t, err, "the head is sealed on shutdown")
	var seal archive.Seal
	require.NoError(t, json.NewDecoder(rc).Decode(&seal))
	rc.Close()
	require.Equal(t, entries[0].Hash, seal.Hash)

	cfg := createDefaultConfig()
	cfg.Directory, cfg.Storage, cfg.SealKeyFile, cfg.SealInterval = "d", component.MustNewID("walstorage"), "/nonexistent.pem", 0
	err = cfg.Validate()
	require.ErrorContains(t, err, "seal_key_file: cannot read key /nonexistent.pem")
	require.ErrorContains(t, err, `seal_interval: "0s" must be at least 1s`)
}

// Concurrent calls share fsyncs (the staging write is waited for outside the lock); every event
// is still archived once, also when the sealer seals objects while writes are in flight.
func TestConcurrentStagingArchivesEveryEventOnce(t *testing.T) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	ctx := context.Background()
	e, ws := v.start(t, 3000)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				// Overlapping ranges: each event is sent by two workers.
				assert.NoError(t, e.ConsumeLogs(ctx, logs("c", (w%4)*200+i*10, 10)))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))
	got := contents(t, v.archiveDir, "c")
	seen := map[string]bool{}
	for _, ev := range got {
		require.False(t, seen[ev], "event %s archived twice", ev)
		seen[ev] = true
	}
	require.Len(t, got, 800)
}

// TestDeferredStagingIsTheReceiversWait: with a wal.Deferred in the context the staging write's
// wait is left to it, and what it staged is archived like the rest.
func TestDeferredStagingIsTheReceiversWait(t *testing.T) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	ctx := context.Background()
	e, ws := v.start(t, 3000)
	dctx, deferred := wal.WithDeferred(ctx)
	require.NoError(t, e.ConsumeLogs(dctx, logs("c", 0, 10)))
	require.Equal(t, 1, deferred.Len(), "the receiver waits for the staging write")
	require.NoError(t, deferred.Wait(dctx))
	require.NoError(t, e.ConsumeLogs(dctx, logs("c", 5, 10)), "a retry of half the events")
	require.NoError(t, deferred.Wait(dctx))
	require.NoError(t, e.ConsumeLogs(ctx, logs("c", 15, 5)))
	require.Zero(t, deferred.Len(), "without the context's Deferred the exporter waits itself")
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))
	require.Len(t, contents(t, v.archiveDir, "c"), 20, "every event once")
}
