package k8sauditreceiver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/audit"
)

// withoutTime is f as a seal covers it: without the timestamp.
func withoutTime(f audit.Fields) audit.Fields {
	f.Time = time.Time{}
	return f
}

// agreementCases are bodies on which the fast path must give what encoding/json gives: the usual
// shapes, and every shape it hands over to encoding/json.
var agreementCases = []string{
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"Panic","user":{"username":"u","groups":[]},"sourceIPs":["1.2.3.4","::1"]}]}`,
	` { "items" : [ { "auditID" : "a" , "stage" : "ResponseComplete" , "objectRef" : { "resource" : "pods" , "subresource" : "log" } } ] , "kind" : "EventList" , "apiVersion" : "audit.k8s.io/v1" } `,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a\u0026b","stage":"x","requestURI":"/api?a=1\u0026b=2","userAgent":"héllo \ud83d\ude00"}]}`,
	"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{\"auditID\":\"a\",\"stage\":\"x\",\"verb\":\"\xff\xfe\"}]}",
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","responseStatus":{"code":201,"metadata":{}},"stageTimestamp":"2026-11-22T10:15:03.131822Z","requestReceivedTimestamp":"2026-11-22T10:15:03+02:00"}]}`,
	// Timestamps whose text is not what RFC3339Nano formats in UTC, and some that are.
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"1","stageTimestamp":"2026-11-22T10:15:03.120000Z","requestReceivedTimestamp":"2026-11-22T10:15:03.000Z"},` +
		`{"auditID":"a","stage":"2","stageTimestamp":"2026-11-22T10:15:03Z","requestReceivedTimestamp":"2026-11-22T10:15:03.1234567891Z"},` +
		`{"auditID":"a","stage":"3","stageTimestamp":"2026-11-22t10:15:03.5z","requestReceivedTimestamp":"2026-11-22T10:15:03,5Z"},` +
		`{"auditID":"a","stage":"4","stageTimestamp":"2026-11-22T10:15:03.123456789Z","requestReceivedTimestamp":"2026-11-22T10:15:03.5-00:00"},` +
		`{"auditID":"a","stage":"5","stageTimestamp":"0001-01-01T00:00:00.1Z","requestReceivedTimestamp":"9999-12-31T23:59:59.999999999Z"}]}`,
	// Handed to encoding/json, item by item.
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[null,1,"x",[],{},{"auditID":7,"stage":"x"},{"auditID":"a","stage":null},{"auditID":"b","stage":"x","user":null}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","AuditID":"b","stage":"x"},{"auditID":"a","auditID":"b","stage":"x"},{"AUDITID":"c","STAGE":"d"}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","responseStatus":{"code":1.5}},{"auditID":"a","stage":"y","responseStatus":{"code":3000000000}},{"auditID":"a","stage":"z","responseStatus":{"code":"200"}},{"auditID":"a","stage":"w","responseStatus":null}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","stageTimestamp":"yesterday"},{"auditID":"a","stage":"y","stageTimestamp":null},{"auditID":"a","stage":"z","stageTimestamp":5}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","user":{"groups":["a",null]}},{"auditID":"a","stage":"y","sourceIPs":"1.2.3.4"},{"auditID":"a","stage":"z","objectRef":{"Name":"n"}}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","requestObject":"` + strings.Repeat("y", 300) + `"},{"a\u0075ditID":"b","stage":"x"},{"ſtage":"x","auditID":"k"}]}`,
	// Edge cases where a validator or a walker could differ from encoding/json: numbers, invalid
	// UTF-8 in keys and values, escapes around known keys, whitespace between items, nesting.
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","responseStatus":{"code":-0}},{"auditID":"b","stage":"x","responseStatus":{"code":2e2}},{"auditID":"c","stage":"x","responseStatus":{"code":-2147483648}},{"auditID":"d","stage":"x","responseStatus":{"code":2147483648}},{"auditID":"e","stage":"x","responseStatus":{"code":200.0}}]}`,
	"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{\"auditID\":\"a\",\"stage\":\"x\",\"\xff\":1,\"user\":{\"\xfe\":\"y\",\"username\":\"\xc3\"}},{\"auditID\":\"\xed\xa0\x80\",\"stage\":\"h\xc3\xa9\"}]}",
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"requestObject":{"a\"}":"}\\","b":["]",{"c":"{"}]},"auditID":"a\\\"b","stage":"x\u0000y","verb":"\/"}]}`,
	`{"kin\u0064":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`, `{"kind":"Event\u004cist","apiVersion":"audit.k8s.io/v1","items":[]}`,
	"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[\n\t{\"auditID\":\"a\",\"stage\":\"x\"}\r\n,\n\"s\" , 12 ,\t{ } ]\n}\n",
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","requestObject":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","requestObject":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]}`,
	// The list's own keys, walked without jsonparser: other keys with strings, escapes and
	// brackets in them, before and after items.
	`{"metadata":{"x":"}\"{","y":[{"z":"]"}]},"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x"}],"extra":[1,{"y":"]\\"}],"n":-1.5e3,"t":true,"f":null}`,
	`{"a\"b":1,"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`,
	"{\"k\xc3\xafnd\":\"x\",\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[]}",
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"items":[{"auditID":"a","stage":"x"}]}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x"}],"KIND":"x"}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[ ]}`,
	// Handed to encoding/json as a whole.
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1"}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","Items":[{"auditID":"a","stage":"x"}]}`,
	`{"kind":"EventList","kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`,
	`{"kind":"Event","apiVersion":"audit.k8s.io/v1","items":[]}`, `{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1"}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x"}]}x`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x"},]}`,
	`{"kind":5,"apiVersion":"audit.k8s.io/v1","items":[]}`, `[]`, `null`, ``, `{`, `{"items":{}}`,
	`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `]}`,
}

func requireSameDecode(t *testing.T, body []byte, limits Limits) {
	t.Helper()
	fastEvents, fastRejected, fastErr, fastOK := decodeFast(body, limits)
	slowEvents, slowRejected, slowErr := decodeSlow(body, limits)
	if !fastOK {
		return // Decode answers with decodeSlow
	}
	if fastErr != nil || slowErr != nil {
		require.Equal(t, slowErr, fastErr, "errors of %q", body)
		require.Empty(t, fastEvents)
		require.Empty(t, fastRejected)
		return
	}
	// The fast path keeps the timestamps' text too, for the attributes, and seals the records of
	// the events it read as the archive reads them: the records must be the same but for the
	// seal, the events but for that text.
	observed := time.Unix(1, 0)
	var m plog.JSONMarshaler
	want, err := m.MarshalLogs(toLogs("c", slowEvents, observed))
	require.NoError(t, err)
	fastLogs := toLogs("c", fastEvents, observed)
	records := fastLogs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range records.Len() {
		lr := records.At(i)
		f, sealed := audit.Attested(lr)
		require.Equal(t, fastEvents[i].attestable, sealed, "seal of event %d of %q", i, body)
		if sealed {
			// What the seal vouches for: the archive's own reading of the body.
			require.Equal(t, fmt.Sprintf("%+v", withoutTime(audit.ParseFields([]byte(lr.Body().Str())))),
				fmt.Sprintf("%+v", f), "fields of event %d of %q", i, body)
		}
		lr.Attributes().Remove(audit.AttrAttestation)
	}
	got, err := m.MarshalLogs(fastLogs)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "records of %q", body)
	for i := range fastEvents {
		fastEvents[i].receivedText, fastEvents[i].stageText, fastEvents[i].attestable = "", "", false
		fastEvents[i].bodySum, fastEvents[i].summed = 0, false // a cache, filled by toLogs
	}
	require.Equal(t, slowEvents, fastEvents, "events of %q", body)
	require.Equal(t, slowRejected, fastRejected, "rejections of %q", body)
}

func TestDecodeFastAgreesWithEncodingJSON(t *testing.T) {
	cases := append([]string{string(readEventList(t)), string(benchBatch())}, agreementCases...)
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			requireSameDecode(t, []byte(c), Limits{MaxEventBytes: 200})
			requireSameDecode(t, []byte(c), Limits{MaxEventBytes: 1 << 20})
			requireSameDecode(t, []byte(c), Limits{MaxEventBytes: 200, MaxEvents: 2})
		})
	}
	// encoding/json's nesting limit (10000, counting the list and the items array) holds on the fast
	// path too: at the limit it reads the body, past it encoding/json words the error.
	for depth, fast := range map[int]bool{9997: true, 9998: false} {
		body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"x","requestObject":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]}`
		_, _, _, ok := decodeFast([]byte(body), Limits{})
		require.Equal(t, fast, ok, "depth %d", depth)
		_, _, err := decodeSlow([]byte(body), Limits{})
		require.Equal(t, fast, err == nil, "depth %d", depth)
	}
	// The usual shapes do take the fast path (a benchmark would show it too, this says which),
	// and so do other keys of the list, with brackets and escapes in them.
	var otherKeys []byte
	for _, c := range agreementCases {
		if strings.HasPrefix(c, `{"metadata":{"x":`) {
			otherKeys = []byte(c)
		}
	}
	require.NotNil(t, otherKeys)
	for _, body := range [][]byte{readEventList(t), benchBatch(), otherKeys} {
		_, _, _, ok := decodeFast(body, Limits{MaxEventBytes: 1 << 20})
		require.True(t, ok)
	}
}

func FuzzDecodeAgrees(f *testing.F) {
	f.Add(readEventList(f))
	for _, c := range agreementCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		requireSameDecode(t, body, Limits{MaxEventBytes: 600, MaxEvents: 3})
	})
}
