package otlpwire

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// wantRewrite is req decoded by pdata with attrs put into every resource, encoded by pdata.
func wantRewrite(t testing.TB, s Signal, req []byte, attrs []Attr) []byte {
	t.Helper()
	d, err := pdataDecode(s, req)
	require.NoError(t, err)
	for _, r := range d.resources() {
		for _, a := range attrs {
			r.Attributes().PutStr(a.Key, a.Value)
		}
	}
	return d.marshal(t)
}

// requireRewrite checks SetResourceAttributes on req, which Check accepts, against pdata, and
// returns its result.
func requireRewrite(t testing.TB, s Signal, req []byte, attrs []Attr) []byte {
	t.Helper()
	prefix := []byte("prefix")
	out, err := SetResourceAttributes(bytes.Clone(prefix), req, s, attrs)
	out = requireAppended(t, s, req, prefix, out, err)
	d, err := pdataDecode(s, out)
	require.NoError(t, err)
	require.Equal(t, wantRewrite(t, s, req, attrs), d.marshal(t))
	return out
}

// requireAppended checks a rewrite of req appended to prefix (out, err): no error, the prefix
// kept, and as many items as req. It returns the rewrite without the prefix.
func requireAppended(t testing.TB, s Signal, req, prefix, out []byte, err error) []byte {
	t.Helper()
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(out, prefix))
	out = out[len(prefix):]
	n, err := Check(s, req)
	require.NoError(t, err)
	m, err := Check(s, out)
	require.NoError(t, err)
	require.Equal(t, n, m)
	return out
}

var attrSets = map[string][]Attr{
	"none":       nil,
	"existing":   {{"service.name", "relay"}},
	"new":        {{"vigil.relay", "agent-1"}},
	"mixed":      {{"host.name", "h2"}, {"vigil.relay", "agent-1"}, {"service.name", ""}},
	"duplicates": {{"a", "1"}, {"service.name", "x"}, {"a", "2"}, {"b", "3"}, {"service.name", "y"}, {"a", "4"}},
	"many":       manyAttrs(40),
}

func manyAttrs(n int) []Attr {
	attrs := make([]Attr, n)
	for i := range attrs {
		attrs[i] = Attr{fmt.Sprintf("k%d", i%(n-3)), fmt.Sprintf("v%d", i)}
	}
	attrs[5].Key = "host.name"
	return attrs
}

func TestSetResourceAttributesRealistic(t *testing.T) {
	for _, tr := range testRequests(t) {
		for name, attrs := range attrSets {
			t.Run(tr.name+"/"+name, func(t *testing.T) {
				out := requireRewrite(t, tr.signal, tr.req, attrs)
				if len(attrs) == 0 {
					require.Equal(t, tr.req, out)
				}
			})
		}
	}
}

// resourceLogs is a ResourceLogs with fields parts and one scope of one log record.
func resourceLogs(parts ...[]byte) []byte {
	return msgField(1, cat(parts...), msgField(2, msgField(2, fixed64Field(1, 1))))
}

func TestSetResourceAttributesCases(t *testing.T) {
	unknown := cat(varintField(99, 7), strField(98, "unknown"))
	cases := []struct {
		name   string
		signal Signal
		req    []byte
		attrs  []Attr
		want   []byte // the exact result, if not nil
	}{
		{name: "replace in place and append", signal: Logs,
			req:   msgField(1, msgField(1, kv(1, "a", "old"), kv(1, "b", "x"))),
			attrs: []Attr{{"a", "new"}, {"c", "y"}},
			want:  msgField(1, msgField(1, kv(1, "a", "new"), kv(1, "b", "x"), kv(1, "c", "y")))},
		{name: "no resource field", signal: Logs,
			req:   cat(resourceLogs(strField(3, "schema"), unknown), unknown),
			attrs: []Attr{{"a", "1"}, {"b", "2"}},
			want:  cat(msgField(1, msgField(1, kv(1, "a", "1"), kv(1, "b", "2")), strField(3, "schema"), unknown, msgField(2, msgField(2, fixed64Field(1, 1)))), unknown)},
		{name: "no resource field, no attrs", signal: Traces, req: msgField(1, msgField(2)), want: msgField(1, msgField(2))},
		{name: "empty resource", signal: Metrics, req: msgField(1, msgField(1), msgField(2)), attrs: []Attr{{"a", "1"}},
			want: msgField(1, msgField(1, kv(1, "a", "1")), msgField(2))},
		{name: "empty request", signal: Logs, req: nil, attrs: []Attr{{"a", "1"}}, want: []byte{}},
		{name: "two resource fields", signal: Logs,
			req:   resourceLogs(msgField(1, kv(1, "a", "1"), unknown), unknown, msgField(1, kv(1, "b", "2"), kv(1, "a", "3"))),
			attrs: []Attr{{"a", "x"}, {"b", "y"}, {"c", "z"}},
			want: msgField(1, msgField(1, kv(1, "a", "x"), unknown), unknown, msgField(1, kv(1, "b", "y"), kv(1, "a", "3"), kv(1, "c", "z")),
				msgField(2, msgField(2, fixed64Field(1, 1))))},
		{name: "duplicate key in resource", signal: Logs,
			req:   resourceLogs(msgField(1, kv(1, "a", "1"), kv(1, "a", "2"))),
			attrs: []Attr{{"a", "x"}}},
		{name: "attribute with other fields", signal: Traces,
			req: msgField(1, msgField(1, msgField(1, varintField(3, 4), strField(1, "a"), unknown,
				msgField(2, msgField(6, kv(1, "in", "map"))), msgField(2, varintField(3, 5)), varintField(50, 1))), msgField(2)),
			attrs: []Attr{{"a", "x"}},
			want: msgField(1, msgField(1, msgField(1, varintField(3, 4), strField(1, "a"), unknown, varintField(50, 1),
				msgField(2, strField(1, "x")))), msgField(2))},
		{name: "key given twice", signal: Logs,
			req:   resourceLogs(msgField(1, msgField(1, strField(1, "x"), strField(1, "a"), msgField(2, strField(1, "old"))), kv(1, "x", "keep"))),
			attrs: []Attr{{"x", "new"}}},
		{name: "attribute without key", signal: Logs,
			req:   resourceLogs(msgField(1, msgField(1, msgField(2, strField(1, "old"))))),
			attrs: []Attr{{"", "empty key"}, {"k", ""}}},
		{name: "unknown fields and entity refs", signal: Metrics,
			req: cat(unknown, msgField(1, unknown, msgField(1, unknown, kv(1, "service.name", "s"), varintField(2, 3),
				msgField(3, strField(2, "service"), strField(3, "service.name")), unknown), msgField(2, msgField(2, msgField(5, msgField(1)))), unknown)),
			attrs: []Attr{{"service.name", "t"}, {"new", "n"}}},
		{name: "deprecated scopes", signal: Logs,
			req:   msgField(1, msgField(1000, msgField(2), msgField(2)), msgField(1, kv(1, "a", "1"))),
			attrs: []Attr{{"a", "2"}}},
		{name: "long values", signal: Logs,
			req:   resourceLogs(msgField(1, kv(1, "a", string(make([]byte, 100))))),
			attrs: []Attr{{"a", string(make([]byte, 300))}, {"b", string(make([]byte, 20000))}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := requireRewrite(t, c.signal, c.req, c.attrs)
			if c.want != nil {
				require.Equal(t, c.want, out)
			}
			if bytes.Contains(c.req, unknown) {
				require.Equal(t, bytes.Count(c.req, unknown), bytes.Count(out, unknown))
			}
		})
	}
}

// rewriteErrorCases are requests SetResourceAttributes and SetResourceAttributesFunc refuse,
// with the error they give when they set an attribute.
var rewriteErrorCases = []struct {
	name   string
	signal Signal
	req    []byte
	err    string
}{
	{"resource_logs as varint", Logs, varintField(1, 1), "otlp logs request: ExportLogsServiceRequest at offset 0: field 1: wire type 0, want 2"},
	{"resource as fixed32", Traces, msgField(1, fixed32Field(1, 1)), "otlp traces request: ResourceSpans at offset 2: field 1: wire type 5, want 2"},
	{"attribute as fixed64", Metrics, msgField(1, msgField(1, fixed64Field(1, 1))), "otlp metrics request: Resource at offset 4: field 1: wire type 1, want 2"},
	{"key as varint", Logs, msgField(1, msgField(1, msgField(1, varintField(1, 1)))), "otlp logs request: KeyValue at offset 6: field 1: wire type 0, want 2"},
	{"truncated", Logs, []byte{0x0a, 0x03, 0x0a}, "otlp logs request: ExportLogsServiceRequest at offset 0: field 1: unexpected EOF"},
	{"truncated resource", Logs, msgField(1, []byte{0x0a, 0x03, 0x0a}), "otlp logs request: ResourceLogs at offset 2: field 1: unexpected EOF"},
	{"bad tag", Logs, msgField(1, msgField(1, []byte{0x00})), "otlp logs request: Resource at offset 4: bad tag: invalid field number"},
	{"bad group", Logs, msgField(1, tag(5, protowire.EndGroupType), varintField(1, 1)), "otlp logs request: ResourceLogs at offset 2: field 5 (wire type 4): end of group without its start"},
	{"unknown signal", Signal(3), nil, "cannot rewrite otlp request: unknown signal 3"},
}

func TestSetResourceAttributesErrors(t *testing.T) {
	for _, c := range rewriteErrorCases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("dst")
			out, err := SetResourceAttributes(dst, c.req, c.signal, []Attr{{"a", "b"}})
			require.EqualError(t, err, c.err)
			require.Equal(t, dst, out)
			if c.signal <= Metrics {
				_, err = Check(c.signal, c.req)
				require.Error(t, err)
			}
		})
	}
}

// TestSetResourceAttributesPrefixes: on every prefix of realistic requests,
// SetResourceAttributes does not panic, and succeeds as pdata expects where Check accepts.
func TestSetResourceAttributesPrefixes(t *testing.T) {
	attrs := attrSets["mixed"]
	for _, tr := range testRequests(t) {
		if len(tr.req) > 16<<10 {
			continue
		}
		for i := range len(tr.req) + 1 {
			p := tr.req[:i]
			if _, err := Check(tr.signal, p); err == nil {
				requireRewrite(t, tr.signal, p, attrs)
			} else {
				_, _ = SetResourceAttributes(nil, p, tr.signal, attrs)
			}
		}
	}
}

func TestSetResourceAttributesAllocations(t *testing.T) {
	for _, tr := range testRequests(t) {
		dst := make([]byte, 0, 2*len(tr.req)+1024)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := SetResourceAttributes(dst, tr.req, tr.signal, attrSets["mixed"]); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, tr.name)
	}
}
