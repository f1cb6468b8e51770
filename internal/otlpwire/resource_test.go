package otlpwire

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"
)

// strReader reads the string attributes of a resource: Resource, or pdataResource.
type strReader interface {
	Str(key string) (string, bool)
}

// pdataResource reads a resource decoded by pdata as Resource should.
type pdataResource struct{ pcommon.Resource }

func (r pdataResource) Str(key string) (string, bool) {
	v, ok := r.Attributes().Get(key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return "", false
	}
	return v.Str(), true
}

// strKeys are the keys the tests read, those of the odd cases and of the realistic requests.
var strKeys = []string{"a", "b", "x", "", "missing", "service.name", "host.name", "process.pid",
	"k8s.pod.uid", "k8s.pod.name", "k8s.namespace.name"}

// readStrs reads keys from r.
func readStrs(r strReader, keys []string) []string {
	got := make([]string, len(keys))
	for i, k := range keys {
		if v, ok := r.Str(k); ok {
			got[i] = fmt.Sprintf("%q", v)
		} else {
			got[i] = fmt.Sprintf("%s: absent", k)
		}
	}
	return got
}

// requireStrAsPdata checks that the Resource of each ResourceX of req, which Check accepts,
// reads keys as pdata does, with Str and AppendStr.
func requireStrAsPdata(t testing.TB, s Signal, req []byte, keys []string) {
	t.Helper()
	var got [][]string
	_, err := SetResourceAttributesFunc(nil, req, s, func(r Resource) []Attr {
		got = append(got, readStrs(r, keys))
		buf := []byte("buf")
		for _, k := range keys {
			v, ok := r.Str(k)
			b, ok2 := r.AppendStr(buf, k)
			if ok != ok2 || string(b) != "buf"+v {
				t.Errorf("key %q: Str gives %q, %v, AppendStr %q, %v", k, v, ok, b, ok2)
			}
		}
		return nil
	})
	require.NoError(t, err)
	d, err := pdataDecode(s, req)
	require.NoError(t, err)
	var want [][]string
	for _, r := range d.resources() {
		want = append(want, readStrs(pdataResource{r}, keys))
	}
	require.Equal(t, want, got)
}

// anyValue is a KeyValue.value field holding parts.
func anyValue(parts ...[]byte) []byte { return msgField(2, parts...) }

// Odd resources: resource fields (of a ResourceX) whose attributes pdata reads in odd ways.
var oddResources = map[string][]byte{
	"duplicate keys":        msgField(1, kv(1, "a", "1"), kv(1, "a", "2"), kv(1, "b", "3")),
	"int value":             msgField(1, msgField(1, strField(1, "a"), anyValue(varintField(3, 5)))),
	"int then string value": msgField(1, msgField(1, strField(1, "a"), anyValue(varintField(3, 5))), kv(1, "a", "later")),
	"split resource fields": cat(msgField(1, kv(1, "b", "in first")), strField(3, "schema"),
		msgField(1, kv(1, "a", "in second"), kv(1, "b", "not first"))),
	"several key fields": msgField(1, msgField(1, strField(1, "x"), strField(1, "a"), anyValue(strField(1, "v")))),
	"key after value":    msgField(1, msgField(1, anyValue(strField(1, "v")), strField(1, "a"))),
	"no key":             msgField(1, msgField(1, anyValue(strField(1, "no key")))),
	"no value":           msgField(1, msgField(1, strField(1, "a")), kv(1, "b", "x")),
	"empty value":        msgField(1, msgField(1, strField(1, "a"), anyValue())),
	"empty string":       msgField(1, kv(1, "a", "")),
	"string then empty value field": msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s")), anyValue(),
		anyValue(varintField(99, 1)))),
	"string then int value field": msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s")), anyValue(varintField(3, 1)))),
	"int then string value field": msgField(1, msgField(1, strField(1, "a"), anyValue(varintField(3, 1)), anyValue(strField(1, "t")))),
	"string and int in one value": msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), varintField(3, 1)))),
	"int and string in one value": msgField(1, msgField(1, strField(1, "a"), anyValue(varintField(3, 1), strField(1, "u")))),
	"two strings in one value":    msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), strField(1, "u")))),
	"string then strindex":        msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), varintField(8, 1)))),
	"string then bytes":           msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), strField(7, "b")))),
	"string then double":          msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), fixed64Field(4, 1)))),
	"string then bool":            msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), varintField(2, 1)))),
	"string then array":           msgField(1, msgField(1, strField(1, "a"), anyValue(strField(1, "s"), msgField(5, msgField(1, strField(1, "e")))))),
	"map then string":             msgField(1, msgField(1, strField(1, "a"), anyValue(msgField(6, kv(1, "a", "inner")), strField(1, "outer")))),
	"map value":                   msgField(1, msgField(1, strField(1, "a"), anyValue(msgField(6, kv(1, "a", "inner"))))),
	"key strindex":                msgField(1, msgField(1, varintField(3, 2), strField(1, "a"), varintField(3, 1), anyValue(strField(1, "s")))),
	"unknown fields everywhere": msgField(1, varintField(90, 1), msgField(1, varintField(91, 1), strField(1, "a"), strField(92, "x"),
		anyValue(fixed32Field(93, 1), tag(94, protowire.StartGroupType), tag(94, protowire.EndGroupType), strField(1, "s"),
			tag(95, protowire.StartGroupType), varintField(1, 1), strField(96, "after"))),
		varintField(2, 3), msgField(3, strField(2, "t"))),
	"binary key and value": msgField(1, kv(1, "a\x00\xff", "\xff\xfe"), kv(1, "", "empty key")),
	"empty resource":       msgField(1),
	"no resource":          strField(3, "schema"),
}

func TestResourceStrOddInputs(t *testing.T) {
	for name, res := range oddResources {
		t.Run(name, func(t *testing.T) {
			for _, s := range []Signal{Logs, Traces, Metrics} {
				req := msgField(1, res, msgField(2))
				_, err := Check(s, req)
				require.NoError(t, err)
				requireStrAsPdata(t, s, req, append(strKeys, "a\x00\xff"))
			}
		})
	}
}

func TestResourceStrRealistic(t *testing.T) {
	for _, tr := range append(testRequests(t), k8sRequests(t)...) {
		t.Run(tr.name, func(t *testing.T) {
			requireStrAsPdata(t, tr.signal, tr.req, strKeys)
		})
	}
}

func TestResourceStrZero(t *testing.T) {
	v, ok := Resource{}.Str("")
	require.False(t, ok)
	require.Empty(t, v)
	b, ok := Resource{}.AppendStr([]byte("x"), "")
	require.False(t, ok)
	require.Equal(t, []byte("x"), b)
}

// TestResourceStrBadInput: on a ResourceX that does not parse, Str does not panic and finds no
// attribute at or after the fault; SetResourceAttributesFunc fails where it reads the fault (it
// does not read values, which it does not rewrite).
func TestResourceStrBadInput(t *testing.T) {
	good := kv(1, "a", "1")
	cases := []struct {
		name string
		res  []byte // the content of a ResourceLogs
		err  bool
	}{
		{"truncated resource", cat(msgField(1, good), []byte{0x0a, 0x05, 0x0a}), true},
		{"resource as varint", cat(msgField(1, good), varintField(1, 1)), true},
		{"attribute as varint", msgField(1, good, varintField(1, 1), kv(1, "b", "2")), true},
		{"key as varint", msgField(1, good, msgField(1, varintField(1, 1)), kv(1, "b", "2")), true},
		{"value as varint", msgField(1, good, msgField(1, strField(1, "b"), varintField(2, 1))), false},
		{"string as varint", msgField(1, good, msgField(1, strField(1, "b"), anyValue(varintField(1, 1)))), false},
		{"truncated value", msgField(1, good, msgField(1, strField(1, "b"), []byte{0x12, 0x03, 0x0a})), true},
		{"bad tag in value", msgField(1, good, msgField(1, strField(1, "b"), anyValue([]byte{0x00}))), false},
		{"end group without start", msgField(1, good, msgField(1, strField(1, "b"), anyValue(tag(9, protowire.EndGroupType)))), false},
		{"group at end of value", msgField(1, good, msgField(1, strField(1, "b"), anyValue(tag(9, protowire.StartGroupType)))), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := msgField(1, c.res)
			_, err := Check(Logs, req)
			require.Error(t, err)
			calls := 0
			_, err = SetResourceAttributesFunc(nil, req, Logs, func(r Resource) []Attr {
				calls++
				v, ok := r.Str("a")
				require.True(t, ok)
				require.Equal(t, "1", v)
				_, ok = r.Str("b")
				require.False(t, ok)
				return []Attr{{"c", "3"}}
			})
			require.Equal(t, 1, calls)
			require.Equal(t, c.err, err != nil, "%v", err)
		})
	}
}
