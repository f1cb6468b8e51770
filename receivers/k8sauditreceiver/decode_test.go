package k8sauditreceiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func readEventList(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "eventlist.json"))
	require.NoError(t, err)
	return b
}

func TestDecodeRealisticEvents(t *testing.T) {
	body := readEventList(t)
	events, rejected, err := Decode(body, Limits{MaxEventBytes: 1 << 20})
	require.NoError(t, err)
	require.Empty(t, rejected)
	require.Len(t, events, 7)

	var stages, levels []string
	for _, e := range events {
		stages = append(stages, e.Stage)
		levels = append(levels, e.Level)
		require.True(t, json.Valid(e.Raw))
	}
	require.Equal(t, []string{"RequestReceived", "ResponseComplete", "ResponseComplete", "ResponseStarted", "ResponseComplete", "Panic", "ResponseComplete"}, stages)
	require.Contains(t, levels, "RequestResponse")

	e := events[2]
	require.Equal(t, "8c2d1e44-5f6a-4b3c-8d2e-1f0a9b8c7d65", e.AuditID)
	require.Equal(t, "create", e.Verb)
	require.Equal(t, "system:serviceaccount:ci:deployer", e.Username)
	require.Equal(t, []string{"system:serviceaccounts", "system:authenticated"}, e.Groups)
	require.Equal(t, "secrets", e.Resource)
	require.Equal(t, "shop", e.Namespace)
	require.Equal(t, "db-password", e.Name)
	require.Equal(t, int32(201), e.ResponseCode)
	require.Equal(t, []string{"10.0.3.17"}, e.SourceIPs)
	require.Equal(t, time.Date(2026, 11, 22, 10, 15, 3, 131822000, time.UTC), e.StageTimestamp)
	require.Equal(t, "apps", events[3].APIGroup)

	// The body is the event exactly as sent: equal, as JSON, to the item in the list.
	var list struct{ Items []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &list))
	for i := range events {
		require.JSONEq(t, string(list.Items[i]), string(events[i].Raw))
	}
}

func TestDecodeRejectsOnlyBadItems(t *testing.T) {
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[
		{"auditID":"a","stage":"ResponseComplete","verb":"get"},
		{"stage":"ResponseComplete","verb":"get"},
		{"auditID":"c","verb":"get"},
		{"auditID":"d","stage":"ResponseComplete","requestObject":"` + strings.Repeat("x", 300) + `"},
		"not an object",
		{"auditID":"f","stage":"ResponseComplete","stageTimestamp":"yesterday"},
		{"auditID":"g","stage":"ResponseComplete"}]}`
	events, rejected, err := Decode([]byte(body), Limits{MaxEventBytes: 200})
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, "a", events[0].AuditID)
	require.Equal(t, "g", events[1].AuditID)
	got := map[int]string{}
	for _, r := range rejected {
		got[r.Index] = r.Reason
		require.NotEmpty(t, r.Message)
	}
	require.Equal(t, map[int]string{1: ReasonMissingAuditID, 2: ReasonMissingStage, 3: ReasonTooLarge, 4: ReasonMalformed, 5: ReasonMalformed}, got)
	require.Equal(t, "d", rejected[2].AuditID, "the auditID of a rejected event is reported when it can be read")
	require.Contains(t, rejected[2].Message, "over the limit of 200 bytes (max_event_bytes)")
}

func TestDecodeRejectsWholeRequest(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"not json", `{"kind":"EventList",`, "cannot decode the request body as an audit EventList: unexpected end of JSON input"},
		{"syntax error offset", `{"kind": EventList}`, "at byte offset"},
		{"wrong kind", `{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`, `expected kind "EventList" and apiVersion "audit.k8s.io/v1" (or "audit.k8s.io/v1beta1"), got kind "Event"`},
		{"alpha apiVersion", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1alpha1","items":[]}`, `got kind "EventList" and apiVersion "audit.k8s.io/v1alpha1"`},
		{"items not a list", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{}}`, `field "items"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode([]byte(tt.body), Limits{MaxEventBytes: 1 << 20})
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(readEventList(f))
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"Panic"}]}`))
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[null, 1, "x", {"auditID":7}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, rejected, err := Decode(body, Limits{MaxEventBytes: 4096})
		if err != nil {
			require.Empty(t, events)
			return
		}
		for _, e := range events {
			require.NotEmpty(t, e.AuditID)
			require.NotEmpty(t, e.Stage)
			require.LessOrEqual(t, len(e.Raw), 4096)
			require.True(t, json.Valid(e.Raw))
			require.True(t, bytes.Contains(body, e.Raw) || json.Valid(e.Raw))
		}
		for _, r := range rejected {
			require.NotEmpty(t, r.Reason)
		}
	})
}

// benchBatch is an EventList of 400 events of 1–2.5 KB, shaped like benchmarks/auditpath's.
func benchBatch() []byte {
	var b strings.Builder
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range 400 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%016x-4f0e-9a41-5d0c9e2b7a10",`+
			`"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web-%d?limit=500\u0026watch=true","verb":"get",`+
			`"user":{"username":"system:serviceaccount:team-%d:deployer","groups":["system:serviceaccounts","system:authenticated"]},`+
			`"sourceIPs":["10.0.%d.7"],"userAgent":"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/%s",`+
			`"objectRef":{"resource":"pods","namespace":"shop","name":"web-%d","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},`+
			`"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.131822Z",`+
			`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller\""}}`,
			i, i, i%40, i%250, strings.Repeat("x", (i*37)%1500), i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// BenchmarkDecode compares Decode (its fast path) with the encoding/json path it replaces.
func BenchmarkDecode(b *testing.B) {
	for _, body := range []struct {
		name string
		b    []byte
	}{{"testdata", readEventList(b)}, {"batch400", benchBatch()}} {
		for _, dec := range []struct {
			name string
			fn   func([]byte, Limits) ([]Event, []Rejected, error)
		}{{"fast", Decode}, {"encoding_json", decodeSlow}} {
			b.Run(body.name+"/"+dec.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body.b)))
				for b.Loop() {
					if _, rej, err := dec.fn(body.b, Limits{MaxEventBytes: 1 << 20}); err != nil || len(rej) > 0 {
						b.Fatal(err, rej)
					}
				}
			})
		}
	}
}

// BenchmarkToLogs measures turning a decoded batch of 400 events into log records.
func BenchmarkToLogs(b *testing.B) {
	body := benchBatch()
	events, _, err := Decode(body, Limits{MaxEventBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	observed := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = toLogs("c", events, observed)
	}
}
