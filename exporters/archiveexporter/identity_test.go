package archiveexporter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/storage/archive"
)

// auditRecord is one record of an audit event as the receiver makes it, at t.
type auditRecord struct {
	auditID, body string
	t             time.Time
}

// auditLogs are the records of cluster (stage ResponseComplete).
func auditLogs(cluster string, recs ...auditRecord) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range recs {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(r.body)
		lr.Attributes().PutStr(audit.AttrAuditID, r.auditID)
		lr.Attributes().PutStr(audit.AttrStage, "ResponseComplete")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.t))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.t.Add(time.Second)))
	}
	return ld
}

// Two requests of a client that sent one Audit-ID header for both: same (auditID, stage).
var (
	reusedAt = time.Date(2026, 11, 22, 10, 15, 3, 124001000, time.UTC)
	getOnce  = auditRecord{"ci-run-42", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ci-run-42",` +
		`"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/secrets/db-password","verb":"get",` +
		`"user":{"username":"system:serviceaccount:ci:deployer"},"sourceIPs":["10.0.7.4"],` +
		`"objectRef":{"resource":"secrets","namespace":"shop","name":"db-password","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"stageTimestamp":"2026-11-22T10:15:03.124001Z"}`, reusedAt}
	deleteOnce = auditRecord{"ci-run-42", strings.NewReplacer(`"verb":"get"`, `"verb":"delete"`,
		`03.124001Z`, `04.509870Z`).Replace(getOnce.body), reusedAt.Add(1385869 * time.Microsecond)}
	// The same kind of event sent pretty-printed: archived compacted (one NDJSON line, the same
	// JSON value), so that queries read its fields.
	pretty = auditRecord{"pp-1", "{\n \"kind\": \"Event\",\n \"apiVersion\": \"audit.k8s.io/v1\",\n \"auditID\": \"pp-1\",\n" +
		" \"stage\": \"ResponseComplete\",\n \"verb\": \"list\"\n}", reusedAt}
)

func TestArchivesDistinctEventsWithOneAuditIDOnce(t *testing.T) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	ctx := context.Background()
	e, ws := v.start(t, 1<<20)
	require.NoError(t, e.ConsumeLogs(ctx, auditLogs("a", getOnce, pretty)))
	require.NoError(t, e.ConsumeLogs(ctx, auditLogs("a", deleteOnce)), "another request's event: same auditID and stage")
	require.NoError(t, e.ConsumeLogs(ctx, auditLogs("a", getOnce, deleteOnce, getOnce)), "re-sent")
	// Cluster b's apiserver logged a request with the same Audit-ID: its own event.
	require.NoError(t, e.ConsumeLogs(ctx, auditLogs("b", getOnce)))
	// A crash before anything is written: the keys come back from the staged chunks.
	close(e.stop)
	<-e.done
	require.NoError(t, ws.Shutdown(ctx))

	e2, ws2 := v.start(t, 1<<20)
	require.NoError(t, e2.ConsumeLogs(ctx, auditLogs("a", deleteOnce, getOnce, pretty)), "re-sent after the crash")
	require.NoError(t, e2.ConsumeLogs(ctx, auditLogs("b", getOnce)))
	require.NoError(t, e2.Shutdown(ctx))
	require.NoError(t, ws2.Shutdown(ctx))

	require.ElementsMatch(t, []string{getOnce.body, deleteOnce.body,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"pp-1","stage":"ResponseComplete","verb":"list"}`},
		contents(t, v.archiveDir, "a"))
	require.Equal(t, []string{getOnce.body}, contents(t, v.archiveDir, "b"))
}

// objectHours maps each object of cluster's stream to the hours its events' times fall in.
func objectHours(t *testing.T, dir, cluster string) map[string][]string {
	t.Helper()
	bkt, s, entries := manifest(t, dir, cluster)
	rep, err := archive.Verify(context.Background(), bkt, s)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	out := map[string][]string{}
	for _, en := range entries {
		first, err := time.Parse(time.RFC3339Nano, en.First)
		require.NoError(t, err)
		last, err := time.Parse(time.RFC3339Nano, en.Last)
		require.NoError(t, err)
		name := strings.TrimPrefix(en.Object, s.Prefix())
		out[name[:len("2006/01/02/15")]] = append(out[name[:len("2006/01/02/15")]],
			first.Format("2006/01/02/15"), last.Format("2006/01/02/15"))
	}
	return out
}

func TestArchiveObjectsHoldTheHourOfTheirName(t *testing.T) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	ctx := context.Background()
	e, ws := v.start(t, 1<<20)
	at := func(id string, t time.Time) auditRecord {
		return auditRecord{id, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id +
			`","stage":"ResponseComplete","verb":"get","stageTimestamp":"` + t.Format(time.RFC3339Nano) + `"}`, t}
	}
	ten := time.Date(2026, 11, 22, 10, 59, 59, 0, time.UTC)
	// One batch: events of 10:59, 11:00 and one backdated to 2019, interleaved.
	require.NoError(t, e.ConsumeLogs(ctx, auditLogs("a", at("e1", ten), at("e2", ten.Add(2*time.Second)),
		at("e3", time.Date(2019, 3, 1, 8, 0, 0, 0, time.UTC)), at("e4", ten.Add(time.Second/2)))))
	// The next batch: a late 10:59 event, then 11:00 again.
	require.NoError(t, e.ConsumeLogs(ctx, auditLogs("a", at("e5", ten.Add(time.Second/4)), at("e6", ten.Add(3*time.Second)))))
	// Records of an older receiver that dated events without a time to the zero time (which a
	// record's timestamp holds as 1754-08-30), and one with no timestamp at all: filed by receipt.
	received := time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)
	old := auditLogs("a", auditRecord{"e7", `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"e7","stage":"ResponseComplete"}`, received},
		auditRecord{"e8", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"e8","stage":"ResponseComplete"}`, received})
	lrs := old.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	lrs.At(0).SetTimestamp(pcommon.NewTimestampFromTime(time.Time{}))
	lrs.At(0).SetObservedTimestamp(pcommon.NewTimestampFromTime(received))
	lrs.At(1).SetTimestamp(0)
	lrs.At(1).SetObservedTimestamp(pcommon.NewTimestampFromTime(received))
	require.Equal(t, 1754, lrs.At(0).Timestamp().AsTime().Year(), "the shape of the fault")
	require.NoError(t, e.ConsumeLogs(ctx, old))
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))

	hours := objectHours(t, v.archiveDir, "a")
	for name, in := range hours {
		for _, h := range in {
			require.Equal(t, name, h, "an object named %s holds events of %s", name, h)
		}
	}
	require.Contains(t, hours, "2026/11/22/10")
	require.Contains(t, hours, "2026/11/22/11")
	require.Contains(t, hours, "2019/03/01/08")
	require.Contains(t, hours, "2026/11/22/12", "events without a time are filed by their receipt")
	require.Len(t, contents(t, v.archiveDir, "a"), 8)
}

// A sender that backdates its event (its own time two days before it was received) leaves a
// trace: the manifest entry of its object records when vigil received it, chained.
func TestManifestRecordsWhenEventsWereReceived(t *testing.T) {
	v := env{queueDir: t.TempDir(), archiveDir: t.TempDir()}
	ctx := context.Background()
	e, ws := v.start(t, 1<<20)
	received := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	backdated := received.Add(-48 * time.Hour)
	ld := auditLogs("a", auditRecord{"b1", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b1","stage":"ResponseComplete",` +
		`"verb":"delete","stageTimestamp":"` + backdated.Format(time.RFC3339Nano) + `"}`, backdated},
		auditRecord{"b2", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b2","stage":"ResponseComplete",` +
			`"verb":"delete","stageTimestamp":"` + backdated.Add(time.Minute).Format(time.RFC3339Nano) + `"}`, backdated.Add(time.Minute)})
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	lrs.At(0).SetObservedTimestamp(pcommon.NewTimestampFromTime(received.Add(time.Second)))
	lrs.At(1).SetObservedTimestamp(pcommon.NewTimestampFromTime(received))
	require.NoError(t, e.ConsumeLogs(ctx, ld))
	require.NoError(t, e.Shutdown(ctx))
	require.NoError(t, ws.Shutdown(ctx))

	bkt, s, entries := manifest(t, v.archiveDir, "a")
	require.Len(t, entries, 1)
	require.Equal(t, "2026-12-05T03:00:00Z", entries[0].First)
	require.Equal(t, "2026-12-07T03:00:00Z", entries[0].ReceivedFirst)
	require.Equal(t, "2026-12-07T03:00:01Z", entries[0].ReceivedLast)
	rep, err := archive.VerifyRange(ctx, bkt, s, archive.VerifyOptions{LateAfter: time.Hour})
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Len(t, rep.Late, 1)
	require.Equal(t, 2, rep.Late[0].Events)
}
