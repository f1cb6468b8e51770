package opensearchexporter

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/internal/opensearchtest"
)

// record appends an audit record of cluster's resource in ld with body, as the receiver makes it.
func record(ld plog.Logs, cluster, auditID, body string, at time.Time) plog.LogRecord {
	var rl plog.ResourceLogs
	for i := range ld.ResourceLogs().Len() {
		if v, _ := ld.ResourceLogs().At(i).Resource().Attributes().Get("k8s.cluster.name"); v.Str() == cluster {
			rl = ld.ResourceLogs().At(i)
		}
	}
	if rl == (plog.ResourceLogs{}) {
		rl = ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
		rl.ScopeLogs().AppendEmpty()
	}
	lr := rl.ScopeLogs().At(0).LogRecords().AppendEmpty()
	lr.Body().SetStr(body)
	lr.Attributes().PutStr(audit.AttrAuditID, auditID)
	lr.Attributes().PutStr(audit.AttrStage, "ResponseComplete")
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Second)))
	return lr
}

// Two requests of a client that sent the same Audit-ID header: same (auditID, stage).
var (
	getSecret = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ci-run-42","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/shop/secrets/db-password","verb":"get","user":{"username":"system:serviceaccount:ci:deployer"},` +
		`"sourceIPs":["10.0.7.4"],"objectRef":{"resource":"secrets","namespace":"shop","name":"db-password","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"stageTimestamp":"2026-11-22T10:15:03.124001Z"}`
	deleteSecret = strings.NewReplacer(`"verb":"get"`, `"verb":"delete"`, `03.124001Z`, `04.509870Z`).Replace(getSecret)
	at           = time.Date(2026, 11, 22, 10, 15, 3, 124001000, time.UTC)
)

func TestDistinctEventsWithOneAuditIDAreDistinctDocuments(t *testing.T) {
	srv := opensearchtest.Start(t)
	e := startExporter(t, testConfig(t, srv.URL))
	ctx := context.Background()
	batch := func() plog.Logs {
		ld := plog.NewLogs()
		record(ld, "prod-eu-1", "ci-run-42", getSecret, at)
		record(ld, "prod-eu-1", "ci-run-42", deleteSecret, at.Add(time.Second))
		record(ld, "prod-us-1", "ci-run-42", getSecret, at) // another cluster's apiserver, same Audit-ID
		return ld
	}
	require.NoError(t, e.pushLogs(ctx, batch()))
	require.Equal(t, 3, srv.Count(), "no event overwrites another")
	require.NoError(t, e.pushLogs(ctx, batch()), "a replay")
	require.Equal(t, 3, srv.Count(), "a replay lands on the same documents")
	var verbs []string
	for _, id := range []string{docIDOf("prod-eu-1", getSecret), docIDOf("prod-eu-1", deleteSecret), docIDOf("prod-us-1", getSecret)} {
		var m map[string]any
		require.NoError(t, json.Unmarshal(srv.Doc(index, id), &m), "document %s", id)
		verbs = append(verbs, m["cluster"].(string)+"/"+m["verb"].(string))
	}
	require.Equal(t, []string{"prod-eu-1/get", "prod-eu-1/delete", "prod-us-1/get"}, verbs)
}

func docIDOf(cluster, body string) string {
	var e struct {
		AuditID string `json:"auditID"`
		Stage   string `json:"stage"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return string(appendEventID(nil, cluster, e.AuditID, e.Stage, []byte(body)))
}

func TestLongAuditIDGivesAValidID(t *testing.T) {
	long := strings.Repeat("a", 600) // a client's Audit-ID header is not limited to a UUID
	e := &osExporter{cfg: createDefaultConfig()}
	ld := plog.NewLogs()
	lr := record(ld, "prod-eu-1", long, strings.Replace(getSecret, "ci-run-42", long, 1), at)
	id := docOf(t, e, "prod-eu-1", lr).id
	require.LessOrEqual(t, len(id), 512, "OpenSearch refuses a longer _id")
	require.Equal(t, id, docOf(t, e, "prod-eu-1", lr).id, "deterministic")
	other := plog.NewLogs()
	require.NotEqual(t, id, docOf(t, e, "prod-eu-1", record(other, "prod-eu-1", long, strings.Replace(deleteSecret, "ci-run-42", long, 1), at)).id)
}

// Events that already hold a top-level member named as a field vigil adds: the document has each
// key once (OpenSearch refuses a duplicate), with vigil's values.
func TestDocumentsHaveEachKeyOnce(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	srv := opensearchtest.Start(t)
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	e, err := newExporter(set, testConfig(t, srv.URL))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()

	received := "2026-11-22T10:15:04.000311Z"
	bodies := map[string]string{
		// A sender claiming another cluster, and a @timestamp of its own (a webhook relay's).
		"spoof": strings.Replace(getSecret, `"kind":"Event",`, `"kind":"Event","cluster":"prod-us-1","@timestamp":"yesterday",`, 1),
		// The same with the key spelled with an escape, and a receipt time of its own.
		"escaped": strings.Replace(getSecret, `"kind":"Event",`, `"kind":"Event","clust\u0065r":"prod-us-1","vigil_received_time":"2001-01-01T00:00:00Z",`, 1),
		// A nested "cluster" is the event's own business.
		"nested": getSecret[:len(getSecret)-1] + `,"annotations":{"cluster":"x"}}`,
		// Only vigil's keys.
		"only": `{"cluster":"prod-us-1","@timestamp":"2026-11-22T10:15:03Z"}`,
	}
	ld := plog.NewLogs()
	for id, body := range bodies {
		lr := record(ld, "prod-eu-1", id, body, at)
		lr.Attributes().PutStr(attrReceivedTime, received)
		// Not sealed: the receiver does not seal an event with one of audit.ReservedKeys
		// (TestReservedKeysAreNotSealed there).
	}
	require.NoError(t, e.pushLogs(context.Background(), ld))
	require.Equal(t, len(bodies), srv.Count(), "every document indexed, none dead-lettered")
	for id, body := range bodies {
		doc := srv.Doc(index, string(appendEventID(nil, "prod-eu-1", id, "ResponseComplete", []byte(body))))
		require.NotNil(t, doc, id)
		var m map[string]any
		require.NoError(t, json.Unmarshal(doc, &m))
		require.Equal(t, "prod-eu-1", m["cluster"], "%s: the authenticated cluster wins", id)
		require.Equal(t, "2026-11-22T10:15:03.124001Z", m["@timestamp"], id)
		require.Equal(t, received, m["vigil_received_time"], id)
		if id != "only" {
			require.Equal(t, "get", m["verb"], "%s: the event's other members are kept", id)
		}
	}
	m, err := tel.GetMetric("vigil_opensearch_replaced_fields")
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key("field"))
		got[v.AsString()] += dp.Value
	}
	require.Equal(t, map[string]int64{"cluster": 3, "@timestamp": 2, "vigil_received_time": 1}, got)
}

// A record of an older receiver dated an event without a time to the zero time.Time, which a
// record holds as 1754-08-30: the document is dated and indexed by its receipt instead.
func TestWrappedTimestampIsNoTime(t *testing.T) {
	e := &osExporter{cfg: createDefaultConfig()}
	ld := plog.NewLogs()
	lr := record(ld, "prod-eu-1", "old-1", `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"old-1","stage":"ResponseComplete"}`, at)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Time{}))
	require.Equal(t, 1754, lr.Timestamp().AsTime().Year(), "the shape of the fault")
	it := docOf(t, e, "prod-eu-1", lr)
	require.Equal(t, index, it.index)
	var m map[string]any
	require.NoError(t, json.Unmarshal(it.doc, &m))
	require.Equal(t, at.Add(time.Second).Format(time.RFC3339Nano), m["@timestamp"])
}
