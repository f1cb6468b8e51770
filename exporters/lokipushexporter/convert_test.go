package lokipushexporter

import (
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func meta(e push.Entry) map[string]string {
	m := map[string]string{}
	for _, l := range e.StructuredMetadata {
		m[l.Name] = l.Value
	}
	return m
}

func TestConvertMapsLabelsAndStructuredMetadata(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr("k8s.cluster.name", "prod-eu")
	res.PutStr("k8s.namespace.name", "payments")
	res.PutStr("k8s.statefulset.name", "ledger")
	res.PutStr("k8s.container.name", "app")
	res.PutStr("service.name", "ledger-svc")
	res.PutStr("k8s.pod.name", "ledger-0")
	res.PutStr("k8s.node.name", "node-7")
	res.PutStr("k8s.pod.uid", "uid-1")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("hello")
	lr.SetSeverityNumber(plog.SeverityNumberWarn2)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(100, 5)))
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	lr.Attributes().PutStr("http.method", "GET")
	lr.Attributes().PutStr("k8s.pod.uid", "from-record")

	got := Convert(ld, func(c string) string { return "t-" + c }, time.Now())
	require.Len(t, got, 1)
	require.Equal(t, "t-prod-eu", got[0].Tenant)
	require.Len(t, got[0].Request.Streams, 1)
	s := got[0].Request.Streams[0]
	require.Equal(t, `{cluster="prod-eu", container="app", level="warn", namespace="payments", service_name="ledger-svc", workload="ledger"}`, s.Labels)
	require.Len(t, s.Entries, 1)
	require.Equal(t, "hello", s.Entries[0].Line)
	require.Equal(t, time.Unix(100, 5).UnixNano(), s.Entries[0].Timestamp.UnixNano())
	require.Equal(t, map[string]string{
		"pod": "ledger-0", "node": "node-7", "k8s_pod_uid": "from-record", "http_method": "GET",
		"trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "0102030405060708",
	}, meta(s.Entries[0]))
}

func TestConvertGroupsSortsAndSplitsTenants(t *testing.T) {
	ld := plog.NewLogs()
	add := func(cluster, sev string, sec int64, body string) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.cluster.name", cluster)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetSeverityText(sev)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(sec, 0)))
		lr.Body().SetStr(body)
	}
	add("b", "ERROR", 30, "b3")
	add("a", "warning", 20, "a2")
	add("a", "WARN", 10, "a1")
	add("a", "bogus", 5, "a0")
	add("c", "info", 1, "c1")
	tenants := map[string]string{"a": "team-1", "b": "team-2"}
	got := Convert(ld, func(c string) string { return tenants[c] }, time.Now())
	require.Len(t, got, 3)
	require.Equal(t, []string{"", "team-1", "team-2"}, []string{got[0].Tenant, got[1].Tenant, got[2].Tenant})
	a := got[1].Request.Streams
	require.Len(t, a, 2, "one stream per level")
	require.Equal(t, `{cluster="a", level="unknown", service_name="unknown_service"}`, a[0].Labels)
	require.Equal(t, `{cluster="a", level="warn", service_name="unknown_service"}`, a[1].Labels)
	require.Equal(t, []string{"a1", "a2"}, []string{a[1].Entries[0].Line, a[1].Entries[1].Line}, "entries sorted by time")
	require.Equal(t, 3, got[1].Entries)
	require.Equal(t, `{cluster="b", level="error", service_name="unknown_service"}`, got[2].Request.Streams[0].Labels)
}

func TestConvertBodiesAndTimes(t *testing.T) {
	now := time.Unix(1000, 0)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	m := lrs.AppendEmpty()
	m.Body().SetEmptyMap().PutStr("k", "v")
	m.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Unix(50, 0)))
	lrs.AppendEmpty().Body().SetInt(42)
	got := Convert(ld, func(string) string { return "" }, now)
	es := got[0].Request.Streams[0].Entries
	require.Equal(t, `{"k":"v"}`, es[0].Line)
	require.Equal(t, int64(50), es[0].Timestamp.Unix(), "observed time when there is no time")
	require.Equal(t, "42", es[1].Line)
	require.Equal(t, now, es[1].Timestamp, "now when there is neither")
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{"k8s.pod.uid": "k8s_pod_uid", "9lives": "_9lives", "a-b/c": "a_b_c", "": "_"} {
		require.Equal(t, want, SanitizeName(in), in)
	}
}
