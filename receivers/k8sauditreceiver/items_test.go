package k8sauditreceiver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// webhookItem is an event as the apiserver's webhook backend sends it inside its EventList:
// without kind and apiVersion (the list carries them; its items are converted without their
// TypeMeta), unlike the lines of --audit-log-path, which carry both.
const webhookItem = `{"level":"Metadata","auditID":"d2a97a82-f39e-41d0-8b31-dd74f42ac7fe","stage":"ResponseComplete",` +
	`"requestURI":"/api/v1/namespaces/kube-system/pods?fieldManager=kubectl-run","verb":"create",` +
	`"user":{"username":"kubernetes-admin","groups":["system:masters","system:authenticated"]},"sourceIPs":["172.18.0.1"],` +
	`"userAgent":"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"pods","namespace":"kube-system","name":"web","apiVersion":"v1"},` +
	`"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.131822Z",` +
	`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`

// v1beta1Item is an event of audit.k8s.io/v1beta1 (apiservers up to 1.23 with
// --audit-webhook-version=audit.k8s.io/v1beta1): metadata and timestamp beside the v1 fields.
const v1beta1Item = `{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2021-03-02T09:12:44Z"},` +
	`"level":"Request","timestamp":"2021-03-02T09:12:44Z","auditID":"0b4d5b4a-7d83-4bd1-9b1d-7c1f2a3e4d5f","stage":"ResponseComplete",` +
	`"requestURI":"/apis/apps/v1/namespaces/shop/deployments/web","verb":"patch","user":{"username":"system:serviceaccount:ci:deployer","groups":["system:serviceaccounts"]},` +
	`"sourceIPs":["10.0.3.17"],"objectRef":{"resource":"deployments","namespace":"shop","name":"web","apiGroup":"apps","apiVersion":"v1"},` +
	`"responseStatus":{"metadata":{},"code":200},"requestObject":[{"op":"replace","path":"/spec/replicas","value":3}],` +
	`"requestReceivedTimestamp":"2021-03-02T09:12:44.101234Z","stageTimestamp":"2021-03-02T09:12:44.112345Z"}`

func listOf(apiVersion string, items ...string) []byte {
	return []byte(`{"kind":"EventList","apiVersion":"` + apiVersion + `","metadata":{},"items":[` + strings.Join(items, ",") + `]}`)
}

// withKind is item with kind and apiVersion first (as an item of another API would have them).
func withKind(kind, apiVersion, rest string) string {
	return fmt.Sprintf(`{"kind":%q,"apiVersion":%q,%s`, kind, apiVersion, rest[1:])
}

func TestDecodeRejectsItemsThatAreNotAuditEvents(t *testing.T) {
	rest := `{"auditID":"x-1","stage":"ResponseComplete","verb":"get"}`
	items := []string{
		webhookItem, // 0: the webhook's own shape
		withKind("Event", "audit.k8s.io/v1", rest),
		v1beta1Item,
		`{"apiVersion":"audit.k8s.io/v1","auditID":"x-3","stage":"ResponseComplete"}`,
		`{"kind":"Event","auditID":"x-4","stage":"ResponseComplete"}`,
		withKind("Pod", "v1", `{"auditID":"x-5","stage":"ResponseComplete","metadata":{"name":"web"},"spec":{"containers":[]}}`),
		withKind("Event", "v1", `{"auditID":"x-6","stage":"ResponseComplete","reason":"Scheduled","involvedObject":{"kind":"Pod"}}`),
		withKind("Event", "events.k8s.io/v1", rest),
		withKind("Event", "audit.k8s.io/v1alpha1", rest),
		withKind("", "apps/v1", rest),
		withKind("Pod", "", `{"metadata":{"name":"web"}}`),
		withKind("EventList", "audit.k8s.io/v1", `{"items":[]}`),
	}
	wantKept := []string{"d2a97a82-f39e-41d0-8b31-dd74f42ac7fe", "x-1", "0b4d5b4a-7d83-4bd1-9b1d-7c1f2a3e4d5f", "x-3", "x-4"}
	wantFound := map[int]string{5: `kind "Pod" and apiVersion "v1"`, 6: `kind "Event" and apiVersion "v1"`,
		7: `apiVersion "events.k8s.io/v1"`, 8: `apiVersion "audit.k8s.io/v1alpha1"`, 9: `kind "" and apiVersion "apps/v1"`,
		10: `kind "Pod" and apiVersion ""`, 11: `kind "EventList"`}
	for _, body := range [][]byte{
		listOf("audit.k8s.io/v1", items...),
		[]byte(strings.Replace(string(listOf("audit.k8s.io/v1", items...)), `"metadata"`, `"m\u0065tadata"`, 1)), // encoding/json's path
	} {
		events, rejected, err := Decode(body, Limits{MaxEventBytes: 1 << 20})
		require.NoError(t, err)
		var kept []string
		for _, e := range events {
			kept = append(kept, e.AuditID)
		}
		require.Equal(t, wantKept, kept)
		require.Len(t, rejected, len(wantFound))
		for _, r := range rejected {
			require.Equal(t, ReasonNotAuditEvent, r.Reason, "item %d", r.Index)
			require.Contains(t, r.Message, wantFound[r.Index], "item %d", r.Index)
			require.Contains(t, r.Message, "not an audit event")
		}
		requireSameDecode(t, body, Limits{MaxEventBytes: 1 << 20})
	}
	require.Equal(t, "x-5", mustRejected(t, listOf("audit.k8s.io/v1", items[5]))[0].AuditID, "the auditID is reported")
}

func mustRejected(t *testing.T, body []byte) []Rejected {
	t.Helper()
	_, rejected, err := Decode(body, Limits{MaxEventBytes: 1 << 20})
	require.NoError(t, err)
	return rejected
}

// TestDecodeAcceptsV1beta1Lists: apiservers up to 1.23 could send audit.k8s.io/v1beta1
// (--audit-webhook-version); its events have the fields vigil reads under the same names.
func TestDecodeAcceptsV1beta1Lists(t *testing.T) {
	body := listOf("audit.k8s.io/v1beta1", v1beta1Item, webhookItem)
	events, rejected, err := Decode(body, Limits{MaxEventBytes: 1 << 20})
	require.NoError(t, err)
	require.Empty(t, rejected)
	require.Len(t, events, 2)
	e := events[0]
	require.Equal(t, "patch", e.Verb)
	require.Equal(t, "deployments", e.Resource)
	require.Equal(t, "apps", e.APIGroup)
	require.Equal(t, int32(200), e.ResponseCode)
	require.Equal(t, []string{"system:serviceaccounts"}, e.Groups)
	requireSameDecode(t, body, Limits{MaxEventBytes: 1 << 20})
}

// TestDecodeLimitsItems: past max_events_per_request items the request is refused whole, with
// an error naming the limit and the setting, on both paths and wherever the items are in the
// list; a body that is not an audit EventList is still told so.
func TestDecodeLimitsItems(t *testing.T) {
	three := []string{webhookItem, v1beta1Item, `{"auditID":"c","stage":"ResponseComplete"}`}
	for _, body := range []string{
		string(listOf("audit.k8s.io/v1", three...)),
		strings.Replace(string(listOf("audit.k8s.io/v1", three...)), `"metadata"`, `"m\u0065tadata"`, 1),
		`{"items":[` + strings.Join(three, ",") + `],"kind":"EventList","apiVersion":"audit.k8s.io/v1"}`,
	} {
		events, _, err := Decode([]byte(body), Limits{MaxEventBytes: 1 << 20, MaxEvents: 3})
		require.NoError(t, err)
		require.Len(t, events, 3, "at the limit")

		events, rejected, err := Decode([]byte(body), Limits{MaxEventBytes: 1 << 20, MaxEvents: 2})
		var tooMany *TooManyEventsError
		require.ErrorAs(t, err, &tooMany)
		require.Empty(t, events)
		require.Empty(t, rejected)
		require.EqualError(t, err, "cannot take the request: its EventList has more than 2 items, the limit (max_events_per_request); "+
			"lower the apiserver's --audit-webhook-batch-max-size")
		requireSameDecode(t, []byte(body), Limits{MaxEventBytes: 1 << 20, MaxEvents: 2})
	}
	// A repeated items key: the last one is the list, as encoding/json reads it.
	events, _, err := Decode([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{},{}],"items":[`+three[0]+`]}`),
		Limits{MaxEventBytes: 1 << 20, MaxEvents: 2})
	require.NoError(t, err)
	require.Len(t, events, 1)
	_, _, err = Decode([]byte(`{"items":[{},{},{}],"kind":"List","apiVersion":"v1"}`), Limits{MaxEvents: 2})
	var de *DecodeError
	require.ErrorAs(t, err, &de, "the kind of the list is told before the number of its items")
	require.Contains(t, err.Error(), `got kind "List"`)
}
