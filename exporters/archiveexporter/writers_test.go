package archiveexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

// writerT0 is the time of the first event of timedLogs.
var writerT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// timedLogs are audit events i in [from, from+n) of cluster, event i stated at writerT0 + i minutes
// (an object holds the events of one hour: a writer writes several).
func timedLogs(cluster string, from, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := from; i < from+n; i++ {
		t := writerT0.Add(time.Duration(i) * time.Minute)
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf(`{"auditID":"%s-%05d","stage":"ResponseComplete","stageTimestamp":%q}`, cluster, i, t.Format(time.RFC3339Nano)))
		lr.Attributes().PutStr("k8s.audit.id", fmt.Sprintf("%s-%05d", cluster, i))
		lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
	}
	return ld
}

// verifyAll verifies every stream of the bucket and returns the problems by stream.
func verifyAll(t *testing.T, bkt objstore.Bucket) (map[archive.Stream][]archive.Problem, []archive.Stream) {
	t.Helper()
	streams, err := archive.Streams(context.Background(), bkt)
	require.NoError(t, err)
	out := map[archive.Stream][]archive.Problem{}
	for _, s := range streams {
		rep, err := archive.Verify(context.Background(), bkt, s)
		require.NoError(t, err)
		if len(rep.Problems) > 0 {
			out[s] = rep.Problems
		}
	}
	return out, streams
}

// queryIDs runs {cluster="a"} over the bucket and returns the auditIDs in the order returned.
func queryIDs(t *testing.T, bkt objstore.Bucket, forward bool, limit int) []string {
	t.Helper()
	eng := &archivequery.Engine{Bucket: bkt}
	res, st, err := eng.Run(context.Background(), archivequery.Query{Expr: `{cluster="a"}`, Forward: forward, Limit: limit})
	require.NoError(t, err)
	require.True(t, st.Intact(), "%v", st.Problems)
	ids := make([]string, 0, len(res))
	for i, r := range res {
		if i > 0 {
			if forward {
				require.False(t, r.Time.Before(res[i-1].Time), "results in time order")
			} else {
				require.False(t, r.Time.After(res[i-1].Time), "results in time order")
			}
		}
		id := audit.ParseFields(r.Raw).AuditID
		ids = append(ids, id)
	}
	return ids
}

func wantIDs(from, to int, reverse bool) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("a-%05d", i))
	}
	if reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// Two gateway replicas archive one cluster into one bucket at the same time, each as its own
// writer: neither is refused nor leaves events staged; verify finds every chain intact; a query
// returns every event once, in time order, across both writers, also the events both received.
func testTwoWriters(t *testing.T, bkt objstore.Bucket, envs [2]env, s3cfg *archive.S3Config) {
	ctx := context.Background()
	var exps [2]*archiveExporter
	var wss [2]extension.Extension
	for i, v := range envs {
		exps[i], wss[i] = v.startWith(t, 2048, s3cfg)
	}
	// Writer i gets the events whose number is i modulo 2, in batches, concurrently; both get
	// 200-219, as when an apiserver retries a batch on the other replica.
	var wg sync.WaitGroup
	for i := range exps {
		wg.Go(func() {
			for b := 0; b < 200; b += 20 {
				ld := plog.NewLogs()
				for k := b; k < b+20; k++ {
					if k%2 == i {
						timedLogs("a", k, 1).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
					}
				}
				require.NoError(t, exps[i].ConsumeLogs(ctx, ld))
			}
			require.NoError(t, exps[i].ConsumeLogs(ctx, timedLogs("a", 200, 20)))
		})
	}
	wg.Wait()
	for i, e := range exps {
		require.NoError(t, e.Shutdown(ctx))
		require.Zero(t, e.oldestStagedAge(time.Now()), "nothing left staged")
		require.NoError(t, wss[i].Shutdown(ctx))
	}
	problems, streams := verifyAll(t, bkt)
	require.Empty(t, problems)
	require.Equal(t, []archive.Stream{{Tenant: "default", Cluster: "a", Writer: envs[0].writer}, {Tenant: "default", Cluster: "a", Writer: envs[1].writer}}, streams)
	for _, s := range streams {
		entries, err := archive.Manifest(ctx, bkt, s)
		require.NoError(t, err)
		require.Greater(t, len(entries), 1, "several objects per writer")
		ch, err := (*archive.ManifestCache)(nil).Chain(ctx, bkt, s)
		require.NoError(t, err)
		require.Equal(t, entries[len(entries)-1].Seq, ch.LastSeal, "sealed on shutdown")
	}
	require.Equal(t, wantIDs(0, 220, false), queryIDs(t, bkt, true, 0))
	require.Equal(t, wantIDs(0, 220, true), queryIDs(t, bkt, false, 0))
	require.Equal(t, wantIDs(205, 220, true), queryIDs(t, bkt, false, 15), "a limited query counts each event once")

	// Writer 0 goes on; writer 1 was removed (scaled down) and never starts again: its sealed
	// chain is complete.
	e0, ws0 := envs[0].startWith(t, 2048, s3cfg)
	require.NoError(t, e0.ConsumeLogs(ctx, timedLogs("a", 220, 10)))
	require.NoError(t, e0.Shutdown(ctx))
	require.NoError(t, ws0.Shutdown(ctx))
	problems, _ = verifyAll(t, bkt)
	require.Empty(t, problems)
	require.Equal(t, wantIDs(0, 230, false), queryIDs(t, bkt, true, 0))
}

func twoEnvs(t *testing.T, archiveDir string) [2]env {
	return [2]env{
		{queueDir: t.TempDir(), archiveDir: archiveDir, writer: "vigil-gateway-0"},
		{queueDir: t.TempDir(), archiveDir: archiveDir, writer: "vigil-gateway-1"},
	}
}

func TestTwoWritersOneFilesystemBucket(t *testing.T) {
	dir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	envs := twoEnvs(t, dir)
	testTwoWriters(t, bkt, envs, nil)

	// Changing one writer's object is reported in that writer's stream, by its name.
	s := archive.Stream{Tenant: "default", Cluster: "a", Writer: envs[1].writer}
	entries, err := archive.Manifest(context.Background(), bkt, s)
	require.NoError(t, err)
	file := filepath.Join(dir, filepath.FromSlash(entries[1].Object))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(file, 0o600))
	require.NoError(t, os.WriteFile(file, append(data, 0), 0o600))
	problems, _ := verifyAll(t, bkt)
	require.Len(t, problems, 1)
	require.Len(t, problems[s], 1)
	require.Equal(t, archive.ProblemModified, problems[s][0].Kind)
	require.True(t, strings.Contains(problems[s][0].Object, "/writers/"+envs[1].writer+"/"), problems[s][0].Object)
	require.True(t, strings.Contains(problems[s][0].Manifest, "/writers/"+envs[1].writer+"/manifest/"), problems[s][0].Manifest)
}

func TestTwoWritersOneMinIOBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO; skipped with -short")
	}
	m := testutil.StartMinIO(t)
	m.MakeBucket(t, "vigil-archive", true)
	s3cfg := &archive.S3Config{Bucket: "vigil-archive", Endpoint: m.Endpoint, AccessKey: m.AccessKey,
		SecretKey: configopaque.String(m.SecretKey), Insecure: true}
	cfg := archive.BucketConfig{S3: s3cfg}
	bkt, err := cfg.OpenBucket()
	require.NoError(t, err)
	defer bkt.Close()
	testTwoWriters(t, bkt, twoEnvs(t, ""), s3cfg)
}

// A gateway that archived without writer and is then given one writes what it staged to the old
// chain, and its new events to a chain of its own from entry 1: both verify.
func TestWriterSetOnAnExistingGateway(t *testing.T) {
	ctx := context.Background()
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	e, ws := v.start(t, 2048)
	require.NoError(t, e.ConsumeLogs(ctx, timedLogs("a", 0, 50)))
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))
	v.writer = "vigil-gateway-0"
	e, ws = v.start(t, 2048)
	require.NoError(t, e.ConsumeLogs(ctx, timedLogs("a", 50, 50)))
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))
	bkt, err := archive.NewFilesystemBucket(v.archiveDir)
	require.NoError(t, err)
	problems, streams := verifyAll(t, bkt)
	require.Empty(t, problems)
	require.Equal(t, []archive.Stream{{Tenant: "default", Cluster: "a"}, {Tenant: "default", Cluster: "a", Writer: "vigil-gateway-0"}}, streams)
	require.Equal(t, wantIDs(0, 100, false), queryIDs(t, bkt, true, 0))
}

// A writer is a path segment of the archive: anything else is refused with the key and the value.
func TestWriterValidation(t *testing.T) {
	for _, w := range []string{"", "vigil-gateway-0", "gw_1.eu"} {
		cfg := createDefaultConfig()
		cfg.Directory, cfg.Storage, cfg.Writer = t.TempDir(), component.MustNewID("walstorage"), w
		require.NoError(t, cfg.Validate(), w)
	}
	for _, w := range []string{"..", "a/b", "-x", "pod 1", strings.Repeat("a", 254)} {
		cfg := createDefaultConfig()
		cfg.Directory, cfg.Storage, cfg.Writer = t.TempDir(), component.MustNewID("walstorage"), w
		require.ErrorContains(t, cfg.Validate(), fmt.Sprintf("writer: %q must be empty or at most 253 letters", w))
	}
}
