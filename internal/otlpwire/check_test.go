package otlpwire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestSignalString(t *testing.T) {
	require.Equal(t, "logs", Logs.String())
	require.Equal(t, "traces", Traces.String())
	require.Equal(t, "metrics", Metrics.String())
	require.Equal(t, "Signal(7)", Signal(7).String())
	_, err := Check(Signal(7), nil)
	require.EqualError(t, err, "cannot check otlp request: unknown signal 7")
}

// TestCheckCountsAsPdata: on requests pdata encodes, Check accepts and counts as pdata does.
func TestCheckCountsAsPdata(t *testing.T) {
	for _, tr := range testRequests(t) {
		t.Run(tr.name, func(t *testing.T) {
			n, err := Check(tr.signal, tr.req)
			require.NoError(t, err)
			d, err := pdataDecode(tr.signal, tr.req)
			require.NoError(t, err)
			require.Equal(t, d.count(), n)
			if !strings.HasSuffix(tr.name, "empty") {
				require.Positive(t, n)
			}
			// Another signal's schema does not fit.
			other := Signal((int(tr.signal) + 1) % 3)
			if _, err := pdataDecode(other, tr.req); err != nil {
				_, err = Check(other, tr.req)
				require.Error(t, err)
			}
		})
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	for _, tr := range testRequests(t) {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := Check(tr.signal, tr.req); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, tr.name)
	}
}

// TestCheckPrefixes: Check and pdata agree on every prefix of realistic requests (most are
// truncated, some end between fields).
func TestCheckPrefixes(t *testing.T) {
	for _, tr := range testRequests(t) {
		if len(tr.req) > 16<<10 {
			continue
		}
		t.Run(tr.name, func(t *testing.T) {
			accepted := 0
			for i := range len(tr.req) + 1 {
				p := tr.req[:i]
				n, err := Check(tr.signal, p)
				d, perr := pdataDecode(tr.signal, p)
				require.Equal(t, perr == nil, err == nil, "prefix of %d bytes: check: %v; pdata: %v", i, err, perr)
				if err == nil {
					accepted++
					require.Equal(t, d.count(), n, "prefix of %d bytes", i)
				}
			}
			require.Positive(t, accepted) // the empty prefix at least
		})
	}
}

// mutations of the byte b tried at every offset.
func mutations(b byte) []byte {
	return []byte{0x00, 0x01, 0x7f, 0x80, 0xff, b ^ 0x01, b ^ 0x02, b ^ 0x04, b ^ 0x08, b + 1, b - 1}
}

// stricterReasons are the reasons Check may refuse what pdata accepts (see the package comment).
var stricterReasons = []string{"nested more than", "varint overflows", "invalid field number"}

// TestCheckMutations: on requests with one byte changed, Check accepts only what pdata accepts,
// counts as pdata does, and refuses what pdata accepts only for a documented reason.
func TestCheckMutations(t *testing.T) {
	for _, tr := range testRequests(t) {
		if len(tr.req) > 4<<10 {
			continue
		}
		t.Run(tr.name, func(t *testing.T) {
			buf := bytes.Clone(tr.req)
			stricter := 0
			for i, orig := range tr.req {
				for _, m := range mutations(orig) {
					buf[i] = m
					n, err := Check(tr.signal, buf)
					d, perr := pdataDecode(tr.signal, buf)
					switch {
					case err == nil:
						require.NoError(t, perr, "byte %d set to %#x", i, m)
						require.Equal(t, d.count(), n, "byte %d set to %#x", i, m)
					case perr == nil:
						stricter++
						require.True(t, containsAny(err.Error(), stricterReasons),
							"byte %d set to %#x: pdata accepts, check: %v", i, m, err)
					}
				}
				buf[i] = orig
			}
			t.Logf("%d bytes, %d mutations refused by check only", len(tr.req), stricter)
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

type checkCase struct {
	name   string
	signal Signal
	req    []byte
	want   int    // the count, when err is ""
	err    string // a part of Check's error, or "" if Check accepts req
	// pdataAccepts marks the documented cases Check refuses and pdata accepts.
	pdataAccepts bool
}

func bytesOf(n int) string { return strings.Repeat("\x01", n) }

var checkCases = []checkCase{
	// Ids.
	{name: "log trace_id 15 bytes", signal: Logs, req: logsWith(strField(9, bytesOf(15))),
		err: "otlp logs request: LogRecord at offset 15: field 9 (trace_id): length 15, want 16"},
	{name: "log trace_id 17 bytes", signal: Logs, req: logsWith(strField(9, bytesOf(17))), err: "length 17, want 16"},
	{name: "log span_id 7 bytes", signal: Logs, req: logsWith(strField(10, bytesOf(7))), err: "field 10 (span_id): length 7, want 8"},
	{name: "log empty ids", signal: Logs, req: logsWith(strField(9, ""), strField(10, "")), want: 1},
	{name: "log ids", signal: Logs, req: logsWith(strField(9, bytesOf(16)), strField(10, bytesOf(8))), want: 1},
	{name: "span trace_id 8 bytes", signal: Traces, req: spansWith(strField(1, bytesOf(8))), err: "Span at offset 12: field 1 (trace_id): length 8, want 16"},
	{name: "span parent_span_id 16 bytes", signal: Traces, req: spansWith(strField(4, bytesOf(16))), err: "field 4 (parent_span_id): length 16, want 8"},
	{name: "link span_id 4 bytes", signal: Traces, req: spansWith(msgField(13, strField(2, bytesOf(4)))), err: "Span.Link at offset 14: field 2 (span_id)"},
	{name: "exemplar trace_id 3 bytes", signal: Metrics,
		req: metricWith(msgField(5, msgField(1, msgField(5, strField(5, bytesOf(3)))))), err: "Exemplar at offset 15: field 5 (trace_id): length 3"},

	// Wire types of known fields.
	{name: "time as varint", signal: Logs, req: logsWith(varintField(1, 5)), err: "LogRecord at offset 15: field 1 (time_unix_nano): wire type 0, want 1"},
	{name: "flags as fixed64", signal: Logs, req: logsWith(fixed64Field(8, 5)), err: "field 8 (flags): wire type 1, want 5"},
	{name: "resource_logs as varint", signal: Logs, req: varintField(1, 3), err: "ExportLogsServiceRequest at offset 0: field 1 (resource_logs): wire type 0, want 2"},
	{name: "double as fixed32", signal: Logs, req: logsWith(msgField(5, fixed32Field(4, 1))), err: "AnyValue at offset 17: field 4 (double_value): wire type 5, want 1"},
	{name: "span kind as bytes", signal: Traces, req: spansWith(strField(6, "x")), err: "field 6 (kind): wire type 2, want 0"},
	{name: "body as group", signal: Logs, req: logsWith(tag(5, protowire.StartGroupType), tag(5, protowire.EndGroupType), fixed64Field(1, 1)), err: "field 5 (body): wire type 3, want 2"},
	{name: "scope_metrics as fixed32", signal: Metrics, req: msgField(1, fixed32Field(2, 1)), err: "ResourceMetrics at offset 2: field 2 (scope_metrics): wire type 5"},

	// Repeated scalars, packed or not.
	{name: "bucket_counts unpacked", signal: Metrics, req: metricWith(msgField(9, msgField(1, fixed64Field(6, 1), fixed64Field(6, 2), fixed64Field(7, 3)))), want: 1},
	{name: "bucket_counts packed", signal: Metrics, req: metricWith(msgField(9, msgField(1, strField(6, bytesOf(16)), strField(7, bytesOf(8))))), want: 1},
	{name: "bucket_counts packed 12 bytes", signal: Metrics, req: metricWith(msgField(9, msgField(1, strField(6, bytesOf(12))))), err: "field 6 (bucket_counts): packed length 12, not a multiple of 8"},
	{name: "explicit_bounds packed 7 bytes", signal: Metrics, req: metricWith(msgField(9, msgField(1, strField(7, bytesOf(7))))), err: "field 7 (explicit_bounds): packed length 7"},
	{name: "bucket_counts as varint", signal: Metrics, req: metricWith(msgField(9, msgField(1, varintField(6, 1)))), err: "field 6 (bucket_counts): wire type 0, want 1 or 2"},
	{name: "exponential buckets unpacked", signal: Metrics, req: metricWith(msgField(10, msgField(1, msgField(8, varintField(2, 1), varintField(2, 300))))), want: 1},
	{name: "exponential buckets packed", signal: Metrics, req: metricWith(msgField(10, msgField(1, msgField(9, strField(2, "\x01\xac\x02\x00"))))), want: 1},
	{name: "exponential buckets packed truncated varint", signal: Metrics, req: metricWith(msgField(10, msgField(1, msgField(8, strField(2, "\x01\xac"))))), err: "ExponentialHistogramDataPoint.Buckets at offset 15: field 2 (bucket_counts): packed: unexpected EOF"},
	{name: "exponential buckets as fixed64", signal: Metrics, req: metricWith(msgField(10, msgField(1, msgField(8, fixed64Field(2, 1))))), err: "wire type 1, want 0 or 2"},

	// Tags.
	{name: "field 0", signal: Logs, req: logsWith([]byte{0x00, 0x01}), err: "LogRecord at offset 15: bad tag: invalid field number"},
	{name: "field 0 at top", signal: Traces, req: []byte{0x02, 0x00}, err: "ExportTraceServiceRequest at offset 0: bad tag"},
	{name: "truncated tag", signal: Logs, req: logsWith([]byte{0x80}), err: "bad tag: unexpected EOF"},
	{name: "wire type 6", signal: Logs, req: logsWith(tag(20, 6), []byte{0}), err: "field 20 (unknown, wire type 6): invalid wire type"},
	{name: "wire type 7", signal: Metrics, req: cat(tag(20, 7), []byte{0}), err: "field 20 (unknown, wire type 7)"},
	{name: "wire type 7 known field", signal: Logs, req: logsWith(tag(3, 7), []byte{0}), err: "field 3 (severity_text): wire type 7, want 2"},

	// Truncation.
	{name: "length past the end", signal: Logs, req: []byte{0x0a, 0x05, 0x12, 0x00}, err: "ExportLogsServiceRequest at offset 0: field 1 (resource_logs): unexpected EOF"},
	{name: "fixed64 cut", signal: Logs, req: logsWith([]byte{0x09, 1, 2, 3}), err: "field 1 (time_unix_nano): unexpected EOF"},
	{name: "varint cut", signal: Logs, req: logsWith([]byte{0x10, 0x80}), err: "field 2 (severity_number): unexpected EOF"},

	// Unknown fields, groups as pdata reads them.
	{name: "unknown fields", signal: Logs, req: cat(logsWith(varintField(100, 1), fixed64Field(101, 2), strField(102, "x"), fixed32Field(103, 4), fixed64Field(1, 1)), varintField(7, 1)), want: 1},
	{name: "unknown empty group", signal: Logs, req: logsWith(tag(20, protowire.StartGroupType), tag(20, protowire.EndGroupType), fixed64Field(1, 1)), want: 1},
	{name: "unknown group, other end number", signal: Logs, req: logsWith(tag(20, protowire.StartGroupType), tag(21, protowire.EndGroupType), fixed64Field(1, 1)), want: 1},
	{name: "unknown nested groups", signal: Logs, req: logsWith(tag(20, protowire.StartGroupType), tag(21, protowire.StartGroupType), tag(21, protowire.EndGroupType), tag(20, protowire.EndGroupType), fixed64Field(1, 1)), want: 1},
	{name: "unknown group at the end", signal: Logs, req: logsWith(tag(20, protowire.StartGroupType), tag(20, protowire.EndGroupType)), err: "group ends at the end of its message"},
	{name: "unknown group with a field", signal: Logs, req: logsWith(tag(20, protowire.StartGroupType), varintField(21, 1), tag(20, protowire.EndGroupType), fixed64Field(1, 1)), err: "field 20 (unknown, wire type 4): end of group without its start"},
	{name: "unknown end group", signal: Logs, req: logsWith(tag(20, protowire.EndGroupType), fixed64Field(1, 1)), err: "end of group without its start"},
	{name: "unknown start group at the end", signal: Logs, req: logsWith(tag(20, protowire.StartGroupType)), err: "field 20 (unknown, wire type 3): unexpected EOF"},

	// Counting as pdata does after decoding.
	{name: "deprecated scope_logs", signal: Logs, req: msgField(1, msgField(1000, msgField(2), msgField(2))), want: 2},
	{name: "scope_logs and deprecated", signal: Logs, req: msgField(1, msgField(1000, msgField(2), msgField(2)), msgField(2, msgField(2))), want: 1},
	{name: "empty scope_logs and deprecated", signal: Logs, req: msgField(1, msgField(2), msgField(1000, msgField(2), msgField(2))), want: 0},
	{name: "deprecated scope_spans", signal: Traces, req: msgField(1, msgField(1000, msgField(2), msgField(2), msgField(2))), want: 3},
	{name: "deprecated scope_metrics", signal: Metrics, req: msgField(1, msgField(1000, msgField(2, msgField(5, msgField(1))))), want: 1},
	{name: "invalid deprecated scope_logs", signal: Logs, req: msgField(1, msgField(2), msgField(1000, msgField(2, varintField(1, 1)))), err: "LogRecord at offset 9: field 1 (time_unix_nano): wire type 0"},
	{name: "metric gauge then sum", signal: Metrics, req: metricWith(msgField(5, msgField(1), msgField(1), msgField(1)), msgField(7, msgField(1), msgField(1))), want: 2},
	{name: "metric sum then empty gauge", signal: Metrics, req: metricWith(msgField(7, msgField(1), msgField(1)), msgField(5)), want: 0},
	{name: "metric gauge twice", signal: Metrics, req: metricWith(msgField(5, msgField(1), msgField(1)), msgField(5, msgField(1))), want: 1},
	{name: "metric of every type", signal: Metrics, req: cat(
		metricWith(msgField(9, msgField(1), msgField(1))), metricWith(msgField(10, msgField(1))),
		metricWith(msgField(11, msgField(1, msgField(6, fixed64Field(1, 1), fixed64Field(2, 2))), msgField(1)))), want: 5},
	{name: "repeated scalar fields", signal: Traces, req: spansWith(strField(5, "a"), strField(5, "b"), msgField(15, varintField(3, 2)), msgField(15)), want: 1},
	{name: "resource with entity refs", signal: Logs, req: msgField(1, msgField(1, kv(1, "a", "b"), varintField(2, 3), msgField(3, strField(1, "u"), strField(2, "t"), strField(3, "k"), strField(4, "d")))), want: 0},
	{name: "entity ref field as varint", signal: Logs, req: msgField(1, msgField(1, msgField(3, varintField(2, 1)))), err: "EntityRef at offset 6: field 2 (type): wire type 0"},
	{name: "all any values", signal: Logs, req: logsWith(msgField(6, strField(1, "k"), msgField(2, strField(1, "s"), varintField(2, 1), varintField(3, 5), fixed64Field(4, 1),
		msgField(5, msgField(1, varintField(3, 1))), msgField(6, kv(1, "a", "b")), strField(7, "\xff"), varintField(8, 3)), varintField(3, 1))), want: 1},
	{name: "kvlist value wrong", signal: Logs, req: logsWith(msgField(5, msgField(6, msgField(1, varintField(2, 1))))), err: "KeyValue at offset 21: field 2 (value): wire type 0"},
	{name: "invalid UTF-8 string", signal: Traces, req: spansWith(strField(5, "\xff\xfe")), want: 1},

	// Depth.
	{name: "body nested 50 deep", signal: Logs, req: logsWith(nestedBody(50)), want: 1},
	{name: "body nested 200 deep", signal: Logs, req: logsWith(nestedBody(200)), err: "messages nested more than 128 deep", pdataAccepts: true},

	// Other stricter cases.
	{name: "10-byte varint overflowing", signal: Logs, req: logsWith(tag(2, protowire.VarintType), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}), err: "field 2 (severity_number): varint overflows 64 bits", pdataAccepts: true},
	{name: "10-byte varint", signal: Logs, req: logsWith(tag(2, protowire.VarintType), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), want: 1},
	{name: "field number over 2^31", signal: Logs, req: logsWith(protowire.AppendVarint(nil, (1<<32+20)<<3), []byte{0}), err: "bad tag: invalid field number", pdataAccepts: true},
	{name: "field number 2^29", signal: Logs, req: logsWith(varintField(1<<29, 1)), want: 1},
}

func TestCheckCases(t *testing.T) {
	for _, c := range checkCases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Check(c.signal, c.req)
			d, perr := pdataDecode(c.signal, c.req)
			if c.err == "" {
				require.NoError(t, err)
				require.Equal(t, c.want, n)
				require.NoError(t, perr)
				require.Equal(t, d.count(), n)
				return
			}
			require.ErrorContains(t, err, c.err)
			require.Zero(t, n)
			if c.pdataAccepts {
				require.NoError(t, perr, "documented as accepted by pdata")
			} else {
				require.Error(t, perr, "pdata accepts it")
			}
		})
	}
}
