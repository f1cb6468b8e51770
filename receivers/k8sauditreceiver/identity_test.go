package k8sauditreceiver

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// Two requests of one client that sent the same Audit-ID header: the kube-apiserver takes the
// auditID from it, so the two requests' events share (auditID, stage) and differ in content.
const (
	reusedGet = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ci-run-42","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/shop/secrets/db-password","verb":"get","user":{"username":"system:serviceaccount:ci:deployer",` +
		`"groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["10.0.7.4"],"userAgent":"deployer/1.4",` +
		`"objectRef":{"resource":"secrets","namespace":"shop","name":"db-password","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},` +
		`"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.124001Z"}`
	reusedDelete = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ci-run-42","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/shop/secrets/db-password","verb":"delete","user":{"username":"system:serviceaccount:ci:deployer",` +
		`"groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["10.0.7.4"],"userAgent":"deployer/1.4",` +
		`"objectRef":{"resource":"secrets","namespace":"shop","name":"db-password","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},` +
		`"requestReceivedTimestamp":"2026-11-22T10:15:04.501200Z","stageTimestamp":"2026-11-22T10:15:04.509870Z"}`
)

func auditList(items ...string) []byte {
	return []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`)
}

func counter(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	return total
}

func verbs(sink *consumertest.LogsSink) []string {
	var out []string
	for _, lr := range recordsOf(sink) {
		v, _ := lr.Attributes().Get(AttrVerb)
		out = append(out, v.AsString())
	}
	return out
}

func TestWebhookKeepsDistinctEventsWithOneAuditID(t *testing.T) {
	for _, window := range []time.Duration{10 * time.Minute, 0} {
		t.Run(window.String(), func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
			cfg := localConfig()
			cfg.DedupWindow = window
			cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
			set := receivertest.NewNopSettings(Type)
			set.TelemetrySettings = tel.NewTelemetrySettings()
			sink := &consumertest.LogsSink{}
			r, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
			require.NoError(t, err)
			require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
			url := "http://" + cfg.NetAddr.Endpoint + cfg.Path

			rep := post(t, url, auditList(reusedGet), nil)
			require.Equal(t, http.StatusOK, rep.code)
			require.Equal(t, 1, rep.body.Accepted)
			rep = post(t, url, auditList(reusedDelete), nil)
			require.Equal(t, http.StatusOK, rep.code)
			require.Equal(t, 1, rep.body.Accepted, "another request's event with the same auditID and stage is not a duplicate")
			require.Zero(t, rep.body.Duplicates)
			require.Equal(t, []string{"get", "delete"}, verbs(sink))
			if window == 0 {
				return
			}
			require.EqualValues(t, 1, counter(t, tel, "vigil_k8saudit_reused_audit_ids"))

			// The apiserver re-sends both (one batch, after a timeout): stored once each.
			rep = post(t, url, auditList(reusedGet, reusedDelete), nil)
			require.Equal(t, http.StatusOK, rep.code)
			require.Zero(t, rep.body.Accepted)
			require.Equal(t, 2, rep.body.Duplicates)
			require.Equal(t, []string{"get", "delete"}, verbs(sink))
			require.EqualValues(t, 2, counter(t, tel, "vigil_k8saudit_duplicate_events"))
			require.EqualValues(t, 1, counter(t, tel, "vigil_k8saudit_reused_audit_ids"))
		})
	}
}

func TestWebhookDedupIsPerCluster(t *testing.T) {
	sink := &consumertest.LogsSink{}
	url := startAuthenticated(t, sink, "prod-eu-1", "prod-us-1")

	// The two clusters' apiservers log a request with the same Audit-ID (a client that sets it,
	// e.g. a CI job talking to both): two events, one per cluster.
	body := auditList(reusedGet)
	for _, c := range []string{"prod-eu-1", "prod-us-1"} {
		rep := post(t, url, body, map[string]string{"Authorization": "Bearer apiserver-token-" + c})
		require.Equal(t, http.StatusOK, rep.code)
		require.Equal(t, 1, rep.body.Accepted, "cluster %s", c)
		require.Zero(t, rep.body.Duplicates, "cluster %s", c)
	}
	var clusters []string
	for _, ld := range sink.AllLogs() {
		v, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get("k8s.cluster.name")
		clusters = append(clusters, v.Str())
	}
	require.Equal(t, []string{"prod-eu-1", "prod-us-1"}, clusters)
	rep := post(t, url, body, map[string]string{"Authorization": "Bearer apiserver-token-prod-us-1"})
	require.Equal(t, 1, rep.body.Duplicates, "a cluster's own re-sent event is still a duplicate")
}

func recordTimes(t *testing.T, lr plog.LogRecord) (time.Time, time.Time) {
	t.Helper()
	v, ok := lr.Attributes().Get(AttrReceivedTime)
	require.True(t, ok, "%s is set", AttrReceivedTime)
	received, err := time.Parse(time.RFC3339Nano, v.Str())
	require.NoError(t, err)
	require.Equal(t, lr.ObservedTimestamp().AsTime().UTC(), received)
	return lr.Timestamp().AsTime().UTC(), received
}

func TestWebhookEventTimes(t *testing.T) {
	sink := &consumertest.LogsSink{}
	url := startReceiver(t, localConfig(), sink, nil)
	before := time.Now()
	body := auditList(
		reusedGet,
		// Only the request's time (a RequestReceived event written without its stage time).
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-2","stage":"RequestReceived","verb":"list",`+
			`"requestReceivedTimestamp":"2026-11-22T09:59:58.000001Z"}`,
		// No time at all, and a time before 1970 that a record cannot hold.
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-3","stage":"ResponseComplete","verb":"get"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-4","stage":"ResponseComplete","verb":"get",`+
			`"stageTimestamp":"1601-01-01T00:00:00Z"}`,
		// Backdated by its sender by years: kept, and its receipt shows beside it.
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-5","stage":"ResponseComplete","verb":"delete",`+
			`"requestReceivedTimestamp":"2019-03-01T08:00:00.000000Z","stageTimestamp":"2019-03-01T08:00:00.002000Z"}`)
	rep := post(t, url, body, nil)
	require.Equal(t, http.StatusOK, rep.code)
	require.Equal(t, 5, rep.body.Accepted)
	after := time.Now()
	records := recordsOf(sink)
	require.Len(t, records, 5)
	want := []string{"2026-11-22T10:15:03.124001Z", "2026-11-22T09:59:58.000001Z", "", "", "2019-03-01T08:00:00.002Z"}
	for i, lr := range records {
		ts, received := recordTimes(t, lr)
		require.False(t, received.Before(before.Truncate(time.Microsecond)) || received.After(after), "received %s", received)
		if want[i] == "" {
			require.Equal(t, received, ts, "event %d has no usable time: its receipt is its time", i)
			continue
		}
		require.Equal(t, want[i], ts.Format(time.RFC3339Nano), "event %d", i)
	}
}

// An audit log file of a cluster whose apiserver writes audit.k8s.io/v1beta1 (--audit-log-version),
// as still found on old control planes: the events carry "timestamp" beside, or instead of, the
// v1 times.
func TestFileEventTimesOfOlderAPIVersions(t *testing.T) {
	dir, queue := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "audit.log")
	lines := []string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2018-06-11T09:30:12Z"},"level":"Metadata",` +
			`"timestamp":"2018-06-11T09:30:12Z","auditID":"b1","stage":"ResponseComplete","requestURI":"/api/v1/nodes","verb":"list",` +
			`"user":{"username":"admin","groups":["system:masters","system:authenticated"]},"sourceIPs":["10.0.0.1"],` +
			`"objectRef":{"resource":"nodes","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},` +
			`"requestReceivedTimestamp":"2018-06-11T09:30:12.012345Z","stageTimestamp":"2018-06-11T09:30:12.020000Z"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2018-06-11T09:31:00Z"},"level":"Metadata",` +
			`"timestamp":"2018-06-11T09:31:00Z","auditID":"b2","stage":"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"list",` +
			`"user":{"username":"admin","groups":["system:masters"]},"sourceIPs":["10.0.0.1"]}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Metadata","auditID":"b3","stage":"ResponseComplete","verb":"get"}`,
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	before := time.Now()
	sink := &consumertest.LogsSink{}
	stop := fileReceiver(t, path, queue, sink)
	waitFor(t, sink, 3)
	stop()
	records := recordsOf(sink)
	require.Len(t, records, 3)
	ts, _ := recordTimes(t, records[0])
	require.Equal(t, "2018-06-11T09:30:12.02Z", ts.Format(time.RFC3339Nano), "stageTimestamp first")
	ts, _ = recordTimes(t, records[1])
	require.Equal(t, "2018-06-11T09:31:00Z", ts.Format(time.RFC3339Nano), "else the v1beta1 timestamp")
	ts, received := recordTimes(t, records[2])
	require.Equal(t, received, ts, "else the receipt")
	require.False(t, ts.Before(before.Truncate(time.Microsecond)))
}

// The fast path and encoding/json agree on the v1beta1 timestamp.
func TestDecodeTimestampOfOlderAPIVersions(t *testing.T) {
	item := `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","timestamp":"2018-06-11T09:31:00Z","auditID":"b2","stage":"ResponseComplete"}`
	fast, _, err := Decode(auditList(item), Limits{})
	require.NoError(t, err)
	slow, _, err := decodeSlow(auditList(item), Limits{})
	require.NoError(t, err)
	want := time.Date(2018, 6, 11, 9, 31, 0, 0, time.UTC)
	require.True(t, want.Equal(fast[0].Timestamp), "fast path: %s", fast[0].Timestamp)
	require.True(t, want.Equal(slow[0].Timestamp), "encoding/json: %s", slow[0].Timestamp)
	require.True(t, fast[0].attestable, "the fast path takes the v1beta1 shape")
	require.True(t, bytes.Equal(fast[0].Raw, []byte(item)))
}

// The OpenSearch exporter looks for its own top-level keys only in events without an intact seal:
// the receiver does not seal an event that has one (audit.ReservedKeys), at its top level.
func TestReservedKeysAreNotSealed(t *testing.T) {
	events, _, err := Decode(auditList(reusedGet,
		strings.Replace(reusedGet, `"kind":"Event",`, `"kind":"Event","cluster":"prod-us-1",`, 1),
		strings.Replace(reusedGet, `"kind":"Event",`, `"kind":"Event","@timestamp":"2026-11-22T10:15:03Z",`, 1),
		strings.Replace(reusedGet, `"kind":"Event",`, `"kind":"Event","vigil_received_time":"2001-01-01T00:00:00Z",`, 1),
		strings.Replace(reusedGet, `"metadata":{}`, `"metadata":{"cluster":"nested, not reserved"}`, 1)), Limits{})
	require.NoError(t, err)
	var attestable []bool
	for _, e := range events {
		attestable = append(attestable, e.attestable)
	}
	require.Equal(t, []bool{true, false, false, false, true}, attestable)
}
