package otlpwire

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

// decoded is a request decoded by pdata.
type decoded struct {
	logs    plogotlp.ExportRequest
	traces  ptraceotlp.ExportRequest
	metrics pmetricotlp.ExportRequest
}

// pdataDecode decodes req as the gateway does.
func pdataDecode(s Signal, req []byte) (decoded, error) {
	var d decoded
	switch s {
	case Logs:
		d.logs = plogotlp.NewExportRequest()
		return d, d.logs.UnmarshalProto(req)
	case Traces:
		d.traces = ptraceotlp.NewExportRequest()
		return d, d.traces.UnmarshalProto(req)
	default:
		d.metrics = pmetricotlp.NewExportRequest()
		return d, d.metrics.UnmarshalProto(req)
	}
}

func (d decoded) count() int {
	switch {
	case d.logs != plogotlp.ExportRequest{}:
		return d.logs.Logs().LogRecordCount()
	case d.traces != ptraceotlp.ExportRequest{}:
		return d.traces.Traces().SpanCount()
	default:
		return d.metrics.Metrics().DataPointCount()
	}
}

// resources returns the resources of d.
func (d decoded) resources() []pcommon.Resource {
	var rs []pcommon.Resource
	switch {
	case d.logs != plogotlp.ExportRequest{}:
		for i := range d.logs.Logs().ResourceLogs().Len() {
			rs = append(rs, d.logs.Logs().ResourceLogs().At(i).Resource())
		}
	case d.traces != ptraceotlp.ExportRequest{}:
		for i := range d.traces.Traces().ResourceSpans().Len() {
			rs = append(rs, d.traces.Traces().ResourceSpans().At(i).Resource())
		}
	default:
		for i := range d.metrics.Metrics().ResourceMetrics().Len() {
			rs = append(rs, d.metrics.Metrics().ResourceMetrics().At(i).Resource())
		}
	}
	return rs
}

func (d decoded) marshal(t testing.TB) []byte {
	t.Helper()
	var b []byte
	var err error
	switch {
	case d.logs != plogotlp.ExportRequest{}:
		b, err = d.logs.MarshalProto()
	case d.traces != ptraceotlp.ExportRequest{}:
		b, err = d.traces.MarshalProto()
	default:
		b, err = d.metrics.MarshalProto()
	}
	require.NoError(t, err)
	return b
}

// fillValue gives v a value of kind k; maps and arrays nest depth more levels.
func fillValue(v pcommon.Value, k pcommon.ValueType, depth, seed int) {
	switch k {
	case pcommon.ValueTypeStr:
		v.SetStr(fmt.Sprintf("value-%d", seed))
	case pcommon.ValueTypeInt:
		v.SetInt(int64(seed) - 1000)
	case pcommon.ValueTypeDouble:
		v.SetDouble(float64(seed) / 3)
	case pcommon.ValueTypeBool:
		v.SetBool(seed%2 == 0)
	case pcommon.ValueTypeBytes:
		v.SetEmptyBytes().FromRaw([]byte{byte(seed), 0, 0xff})
	case pcommon.ValueTypeMap:
		m := v.SetEmptyMap()
		m.PutStr("k", "v")
		if depth > 0 {
			fillValue(m.PutEmpty("nested"), pcommon.ValueTypeSlice, depth-1, seed+1)
		}
		m.PutEmpty("empty") // a KeyValue whose AnyValue has no value
	case pcommon.ValueTypeSlice:
		s := v.SetEmptySlice()
		s.AppendEmpty().SetInt(int64(seed))
		if depth > 0 {
			fillValue(s.AppendEmpty(), pcommon.ValueTypeMap, depth-1, seed+1)
		}
		s.AppendEmpty()
	}
}

var valueKinds = []pcommon.ValueType{
	pcommon.ValueTypeStr, pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool,
	pcommon.ValueTypeBytes, pcommon.ValueTypeMap, pcommon.ValueTypeSlice, pcommon.ValueTypeEmpty,
}

// fillAttributes puts one attribute of every kind into m.
func fillAttributes(m pcommon.Map, seed int) {
	for i, k := range valueKinds {
		fillValue(m.PutEmpty(fmt.Sprintf("attr.%s", k)), k, 2, seed+i)
	}
}

// fillResource gives the resource r of resource number i attributes: service.name for even i,
// none at all for i%3 == 2.
func fillResource(r pcommon.Resource, i int) {
	if i%3 == 2 {
		return
	}
	if i%2 == 0 {
		r.Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i))
	}
	r.Attributes().PutStr("host.name", "h1")
	r.Attributes().PutInt("process.pid", int64(i))
	r.SetDroppedAttributesCount(uint32(i))
}

func fillScope(s pcommon.InstrumentationScope, j int) {
	if j == 1 {
		return
	}
	s.SetName("scope")
	s.SetVersion("1.0")
	s.Attributes().PutBool("scope.attr", true)
}

func traceID(i int) pcommon.TraceID {
	return pcommon.TraceID{1, 2, 3, byte(i), 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
}
func spanID(i int) pcommon.SpanID { return pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)} }

// testLogs has nRes resources of nScope scopes of nRec log records each, with values of every kind.
func testLogs(nRes, nScope, nRec int) plog.Logs {
	ld := plog.NewLogs()
	for i := range nRes {
		rl := ld.ResourceLogs().AppendEmpty()
		fillResource(rl.Resource(), i)
		rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		for j := range nScope {
			sl := rl.ScopeLogs().AppendEmpty()
			fillScope(sl.Scope(), j)
			for k := range nRec {
				lr := sl.LogRecords().AppendEmpty()
				seed := i*100 + j*10 + k
				lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + seed))
				lr.SetObservedTimestamp(pcommon.Timestamp(1_700_000_000_000_000_001 + seed))
				lr.SetSeverityNumber(plog.SeverityNumberInfo)
				lr.SetSeverityText("INFO")
				fillValue(lr.Body(), valueKinds[seed%len(valueKinds)], 3, seed)
				fillAttributes(lr.Attributes(), seed)
				lr.SetDroppedAttributesCount(1)
				lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
				if k%2 == 0 {
					lr.SetTraceID(traceID(seed))
					lr.SetSpanID(spanID(seed))
				}
				lr.SetEventName("event")
			}
		}
	}
	return ld
}

func testTraces(nRes, nScope, nSpan int) ptrace.Traces {
	td := ptrace.NewTraces()
	for i := range nRes {
		rs := td.ResourceSpans().AppendEmpty()
		fillResource(rs.Resource(), i)
		for j := range nScope {
			ss := rs.ScopeSpans().AppendEmpty()
			fillScope(ss.Scope(), j)
			ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			for k := range nSpan {
				seed := i*100 + j*10 + k
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(traceID(seed))
				sp.SetSpanID(spanID(seed))
				if k > 0 {
					sp.SetParentSpanID(spanID(seed - 1))
				}
				sp.TraceState().FromRaw("a=b")
				sp.SetFlags(1)
				sp.SetName(fmt.Sprintf("span-%d", k))
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetStartTimestamp(1)
				sp.SetEndTimestamp(2)
				fillAttributes(sp.Attributes(), seed)
				sp.SetDroppedAttributesCount(2)
				ev := sp.Events().AppendEmpty()
				ev.SetName("exception")
				ev.SetTimestamp(3)
				ev.Attributes().PutStr("exception.message", "boom")
				ev.SetDroppedAttributesCount(1)
				sp.Events().AppendEmpty()
				sp.SetDroppedEventsCount(3)
				ln := sp.Links().AppendEmpty()
				ln.SetTraceID(traceID(seed + 1))
				ln.SetSpanID(spanID(seed + 1))
				ln.TraceState().FromRaw("c=d")
				ln.Attributes().PutInt("link.n", 1)
				ln.SetDroppedAttributesCount(4)
				ln.SetFlags(1)
				sp.SetDroppedLinksCount(5)
				if k%2 == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
					sp.Status().SetMessage("failed")
				}
			}
		}
	}
	return td
}

func fillExemplars(es pmetric.ExemplarSlice, seed int) {
	e := es.AppendEmpty()
	e.SetTimestamp(5)
	e.SetDoubleValue(1.5)
	e.SetTraceID(traceID(seed))
	e.SetSpanID(spanID(seed))
	e.FilteredAttributes().PutStr("f", "g")
	es.AppendEmpty().SetIntValue(7)
}

func fillNumberPoints(ps pmetric.NumberDataPointSlice, n, seed int) {
	for k := range n {
		p := ps.AppendEmpty()
		p.SetStartTimestamp(1)
		p.SetTimestamp(2)
		if k%2 == 0 {
			p.SetIntValue(int64(k))
		} else {
			p.SetDoubleValue(float64(k) + 0.5)
		}
		fillAttributes(p.Attributes(), seed+k)
		fillExemplars(p.Exemplars(), seed+k)
		p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(k == 2))
	}
}

// testMetrics has nRes resources of nScope scopes with a metric of every type, each with nPoint
// data points, and a metric without data.
func testMetrics(nRes, nScope, nPoint int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i := range nRes {
		rm := md.ResourceMetrics().AppendEmpty()
		fillResource(rm.Resource(), i)
		for j := range nScope {
			sm := rm.ScopeMetrics().AppendEmpty()
			fillScope(sm.Scope(), j)
			seed := i*100 + j*10

			m := sm.Metrics().AppendEmpty()
			m.SetName("gauge")
			m.SetDescription("a gauge")
			m.SetUnit("1")
			m.Metadata().PutStr("meta", "data")
			fillNumberPoints(m.SetEmptyGauge().DataPoints(), nPoint, seed)

			m = sm.Metrics().AppendEmpty()
			m.SetName("sum")
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			s.SetIsMonotonic(true)
			fillNumberPoints(s.DataPoints(), nPoint, seed+1)

			m = sm.Metrics().AppendEmpty()
			m.SetName("histogram")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			for k := range nPoint {
				p := h.DataPoints().AppendEmpty()
				p.SetStartTimestamp(1)
				p.SetTimestamp(2)
				p.SetCount(uint64(10 + k))
				p.SetSum(12.5)
				p.SetMin(0.5)
				p.SetMax(9)
				p.BucketCounts().FromRaw([]uint64{1, 2, 3, uint64(4 + k)})
				p.ExplicitBounds().FromRaw([]float64{1, 5, 10})
				fillAttributes(p.Attributes(), seed+k)
				fillExemplars(p.Exemplars(), seed+k)
			}

			m = sm.Metrics().AppendEmpty()
			m.SetName("exponential_histogram")
			eh := m.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for k := range nPoint {
				p := eh.DataPoints().AppendEmpty()
				p.SetStartTimestamp(1)
				p.SetTimestamp(2)
				p.SetCount(uint64(20 + k))
				p.SetSum(-3)
				p.SetScale(int32(-k))
				p.SetZeroCount(1)
				p.SetZeroThreshold(0.001)
				p.Positive().SetOffset(int32(k - 2))
				p.Positive().BucketCounts().FromRaw([]uint64{1, 300, 70000})
				p.Negative().SetOffset(-5)
				p.Negative().BucketCounts().FromRaw([]uint64{2})
				p.SetMin(-1)
				p.SetMax(100)
				fillAttributes(p.Attributes(), seed+k)
				fillExemplars(p.Exemplars(), seed+k)
			}

			m = sm.Metrics().AppendEmpty()
			m.SetName("summary")
			for k := range nPoint {
				p := m.SetEmptySummary().DataPoints().AppendEmpty()
				if k > 0 {
					p = m.Summary().DataPoints().AppendEmpty()
				}
				p.SetStartTimestamp(1)
				p.SetTimestamp(2)
				p.SetCount(3)
				p.SetSum(4)
				q := p.QuantileValues().AppendEmpty()
				q.SetQuantile(0.5)
				q.SetValue(1)
				q = p.QuantileValues().AppendEmpty()
				q.SetQuantile(0.99)
				q.SetValue(9)
				fillAttributes(p.Attributes(), seed+k)
			}

			sm.Metrics().AppendEmpty().SetName("no data")
		}
	}
	return md
}

// marshal encodes a request holding ld, td or md with pdata.
func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	switch v := v.(type) {
	case plog.Logs:
		b, err = plogotlp.NewExportRequestFromLogs(v).MarshalProto()
	case ptrace.Traces:
		b, err = ptraceotlp.NewExportRequestFromTraces(v).MarshalProto()
	case pmetric.Metrics:
		b, err = pmetricotlp.NewExportRequestFromMetrics(v).MarshalProto()
	default:
		t.Fatalf("cannot marshal %T", v)
	}
	require.NoError(t, err)
	return b
}

// testRequest is a realistic request.
type testRequest struct {
	name   string
	signal Signal
	req    []byte
}

// testRequests returns realistic requests of every signal, small ones first.
func testRequests(t testing.TB) []testRequest {
	t.Helper()
	return []testRequest{
		{"logs/empty", Logs, marshal(t, plog.NewLogs())},
		{"logs/1x1x1", Logs, marshal(t, testLogs(1, 1, 1))},
		{"logs/3x2x3", Logs, marshal(t, testLogs(3, 2, 3))},
		{"traces/empty", Traces, marshal(t, ptrace.NewTraces())},
		{"traces/1x1x1", Traces, marshal(t, testTraces(1, 1, 1))},
		{"traces/3x2x3", Traces, marshal(t, testTraces(3, 2, 3))},
		{"metrics/empty", Metrics, marshal(t, pmetric.NewMetrics())},
		{"metrics/1x1x1", Metrics, marshal(t, testMetrics(1, 1, 1))},
		{"metrics/3x2x3", Metrics, marshal(t, testMetrics(3, 2, 3))},
	}
}

// Builders of hand-made protobuf.

// msgField is field num holding the concatenation of parts (wire type 2).
func msgField(num protowire.Number, parts ...[]byte) []byte {
	var content []byte
	for _, p := range parts {
		content = append(content, p...)
	}
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, content)
}

func strField(num protowire.Number, s string) []byte { return msgField(num, []byte(s)) }

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func fixed64Field(num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), v)
}

func fixed32Field(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), v)
}

func tag(num protowire.Number, wt protowire.Type) []byte { return protowire.AppendTag(nil, num, wt) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// kv is a KeyValue field num holding a string value.
func kv(num protowire.Number, k, v string) []byte {
	return msgField(num, strField(1, k), msgField(2, strField(1, v)))
}

// logsWith is a logs request of one ResourceLogs of one ScopeLogs of one log record, with
// extra appended to the log record.
func logsWith(extra ...[]byte) []byte {
	return msgField(1, msgField(2, msgField(2, cat(fixed64Field(1, 1), cat(extra...)))))
}

func spansWith(extra ...[]byte) []byte {
	return msgField(1, msgField(2, msgField(2, cat(strField(5, "span"), cat(extra...)))))
}

// metricWith is a metrics request of one metric made of parts.
func metricWith(parts ...[]byte) []byte {
	return msgField(1, msgField(2, msgField(2, cat(strField(1, "m"), cat(parts...)))))
}

// nestedBody is a log record body of AnyValues nested levels deep through arrays.
func nestedBody(levels int) []byte {
	v := strField(1, "leaf")
	for range levels {
		v = msgField(5, msgField(1, v))
	}
	return msgField(5, v)
}
