package audit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rebuild reads the value at b[i] (valid JSON) with the scanner alone, decoding only keys and
// scalars with encoding/json: what it returns is what encoding/json reads from the whole text
// exactly when the scanner found every member, element and end where they are.
func rebuild(t *testing.T, b []byte, i int) any {
	t.Helper()
	end := ValueEnd(b, i)
	require.Positive(t, end, "no end for the value at %d of %q", i, b)
	switch b[i] {
	case '{':
		m := map[string]any{}
		e, err := EachMember(b, i, func(key []byte, start, end int) error {
			var k string
			require.NoError(t, json.Unmarshal([]byte(`"`+string(key)+`"`), &k))
			v := rebuild(t, b, start)
			require.Equal(t, end, ValueEnd(b, start))
			m[k] = v
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, end, e)
		return m
	case '[':
		a := []any{}
		e, err := EachElement(b, i, func(start, _ int) error {
			a = append(a, rebuild(t, b, start))
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, end, e)
		return a
	}
	var v any
	require.NoError(t, json.Unmarshal(b[i:end], &v), "%q", b[i:end])
	raw, typ := Value(b, i, end)
	if _, ok := v.(string); ok {
		require.Equal(t, "string", typ.String())
		require.Equal(t, b[i+1:end-1], raw)
	}
	return v
}

var scanCases = []string{
	`{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":"d"}`, `"x"`, `0`, `-0.5e+10`, `true`, `false`, `null`,
	`{"a" : 1 , "b" :[ ] , "c":{ }}`, `{"a":1,"a":2}`, `["\\","\\\\","\"","\\\"","x\\\\\"y"]`, `{"k\"}":"v]\\","\\":"\\\\"}`,
	`{"a":"}","b":"{[","c":["]"]}`, `[["a"],[],[[]],{"x":[{}]}]`, `"\u00e9\n\t\\\/\""`, "\"h\xc3\xa9llo\"",
	`{"ua":"` + strings.Repeat("x", 1500) + `","n":-1}`, `{"s":"` + strings.Repeat(`\\`, 33) + `\"` + `"}`,
}

func TestScannerReadsWhatEncodingJSONReads(t *testing.T) {
	for _, c := range scanCases {
		b := []byte(c)
		require.True(t, json.Valid(b), c)
		var want any
		require.NoError(t, json.Unmarshal(b, &want))
		i := SkipSpace(b, 0)
		got := rebuild(t, b, i)
		require.True(t, reflect.DeepEqual(want, got), "%q: %#v, scanner %#v", c, want, got)
	}
}

func TestStringEnd(t *testing.T) {
	for s, want := range map[string]int{`"ab"x`: 4, `"a\"b"`: 6, `"a\\"b"`: 5, `"\\\""`: 6, `""`: 2, `"abc`: -1, `"a\"`: -1} {
		require.Equal(t, want, StringEnd([]byte(s), 0), s)
	}
}

// TestScannerOnBrokenInput: input that is not valid JSON gives an error or a meaningless
// answer, never a panic.
func TestScannerOnBrokenInput(t *testing.T) {
	for _, c := range []string{``, `{`, `[`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `[1,`, `"`, `{"a" 1}`, `{1:2}`, `[1 2]`, `{"a":"\`} {
		b := []byte(c)
		_ = ValueEnd(b, 0)
		_, _ = EachMember(b, 0, func([]byte, int, int) error { return nil })
		_, _ = EachElement(b, 0, func(int, int) error { return nil })
	}
}

func FuzzScanner(f *testing.F) {
	for _, c := range append(scanCases, validityCases...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = EachMember(b, SkipSpace(b, 0), func([]byte, int, int) error { return nil })
		_, _ = EachElement(b, SkipSpace(b, 0), func(int, int) error { return nil })
		var want any
		if len(b) > 4096 || !json.Valid(b) || json.Unmarshal(b, &want) != nil {
			return // rebuild is quadratic in the nesting depth: the deep seeds are left out
		}
		got := rebuild(t, b, SkipSpace(b, 0))
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q: encoding/json %#v, scanner %#v", b, want, got)
		}
	})
}

// benchEvents are audit events in two shapes: the auditpath benchmark's (a long user agent) and
// one with a request object of many short strings.
func benchEvents() [][]byte {
	var out [][]byte
	for i := range 200 {
		out = append(out, []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0000000000000001-`+
			strings.Repeat("7", 4)+`-4f0e-9a41-5d0c9e2b7a10","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web-1",`+
			`"verb":"get","user":{"username":"system:serviceaccount:team-1:deployer","groups":["system:serviceaccounts","system:authenticated"]},`+
			`"sourceIPs":["10.0.1.7"],"userAgent":"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/`+strings.Repeat("x", i*7)+`",`+
			`"objectRef":{"resource":"pods","namespace":"shop","name":"web-1","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},`+
			`"requestReceivedTimestamp":"2026-11-22T10:15:03.120456Z","stageTimestamp":"2026-11-22T10:15:03.131822Z",`+
			`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller\""}}`))
		out = append(out, []byte(`{"kind":"Event","level":"Request","auditID":"a-`+strings.Repeat("1", 8)+`","stage":"ResponseComplete","verb":"update",`+
			`"requestObject":{"kind":"ConfigMap","metadata":{"name":"c","namespace":"n","labels":{"app":"web","tier":"front","team":"shop"}},`+
			`"data":{"a":"1","b":"two","c":"three","d":"four","e":"five","f":"six","g":"seven","h":"eight"}},"stageTimestamp":"2026-11-22T10:15:03Z"}`))
	}
	return out
}

func BenchmarkEachMember(b *testing.B) {
	events := benchEvents()
	n := 0
	for _, e := range events {
		n += len(e)
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		for _, e := range events {
			if _, err := EachMember(e, 0, func([]byte, int, int) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
}
