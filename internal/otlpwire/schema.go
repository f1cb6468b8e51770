package otlpwire

// The OTLP schema as pdata v1.68.0 decodes it (internal/generated_proto_*.go): per message,
// the fields pdata knows, with the wire types it accepts. Fields not listed are unknown fields.

// kind is how a known field is encoded, and so which wire types pdata accepts for it.
type kind uint8

const (
	kVarint        kind = iota // wire type 0 (ints, enums, bools, sint32)
	kFixed64                   // wire type 1 (fixed64, double)
	kFixed32                   // wire type 5 (fixed32)
	kBytes                     // wire type 2, any content (string, bytes; no UTF-8 check)
	kMessage                   // wire type 2, a message of type child
	kID                        // wire type 2, length 0 or size (trace id, span id)
	kPackedFixed64             // repeated fixed64/double: wire type 1, or 2 with a length multiple of 8
	kPackedVarint              // repeated uint64: wire type 0, or 2 with varints filling it
)

// role says how a message field's item count adds to its parent's.
type role uint8

const (
	roleNone     role = iota // not counted (attributes, ...)
	roleSum                  // the parent's count is the sum of these children's counts
	roleLast                 // oneof: the parent's count is the count of the last such field
	roleFallback             // counted only when the parent has no roleSum field (deprecated field 1000)
)

// msgID names a message type; schema[id] describes it.
type msgID uint8

const (
	mAnyValue msgID = iota
	mArrayValue
	mKeyValueList
	mKeyValue
	mInstrumentationScope
	mResource
	mEntityRef

	mLogsRequest
	mResourceLogs
	mScopeLogs
	mLogRecord

	mTraceRequest
	mResourceSpans
	mScopeSpans
	mSpan
	mEvent
	mLink
	mStatus

	mMetricsRequest
	mResourceMetrics
	mScopeMetrics
	mMetric
	mGauge
	mSum
	mHistogram
	mExponentialHistogram
	mSummary
	mNumberDataPoint
	mHistogramDataPoint
	mExponentialHistogramDataPoint
	mBuckets
	mSummaryDataPoint
	mValueAtQuantile
	mExemplar

	numMessages
)

// field is a known field of a message.
type field struct {
	num   int32
	name  string // the field's name in the .proto files
	kind  kind
	child msgID // kMessage: the field's message type
	size  int   // kID: the length of a non-empty id
	role  role  // kMessage: how the child's count adds to the parent's
}

// message describes a message type.
type message struct {
	name   string
	item   bool // an item: counts 1 (log record, span, data point)
	fields []field
	byNum  []int8 // field number -> index in fields, or -1; built by init
}

func varint(num int32, name string) field  { return field{num: num, name: name, kind: kVarint} }
func fixed64(num int32, name string) field { return field{num: num, name: name, kind: kFixed64} }
func fixed32(num int32, name string) field { return field{num: num, name: name, kind: kFixed32} }
func blob(num int32, name string) field    { return field{num: num, name: name, kind: kBytes} }
func id(num int32, name string, size int) field {
	return field{num: num, name: name, kind: kID, size: size}
}

func msg(num int32, name string, child msgID) field {
	return field{num: num, name: name, kind: kMessage, child: child}
}

func counted(num int32, name string, child msgID, r role) field {
	return field{num: num, name: name, kind: kMessage, child: child, role: r}
}

const (
	traceIDSize = 16
	spanIDSize  = 8
)

var schema = [numMessages]message{
	mAnyValue: {name: "AnyValue", fields: []field{
		blob(1, "string_value"), varint(2, "bool_value"), varint(3, "int_value"), fixed64(4, "double_value"),
		msg(5, "array_value", mArrayValue), msg(6, "kvlist_value", mKeyValueList), blob(7, "bytes_value"),
		varint(8, "string_value_strindex"),
	}},
	mArrayValue:   {name: "ArrayValue", fields: []field{msg(1, "values", mAnyValue)}},
	mKeyValueList: {name: "KeyValueList", fields: []field{msg(1, "values", mKeyValue)}},
	mKeyValue: {name: "KeyValue", fields: []field{
		blob(1, "key"), msg(2, "value", mAnyValue), varint(3, "key_strindex"),
	}},
	mInstrumentationScope: {name: "InstrumentationScope", fields: []field{
		blob(1, "name"), blob(2, "version"), msg(3, "attributes", mKeyValue), varint(4, "dropped_attributes_count"),
	}},
	mResource: {name: "Resource", fields: []field{
		msg(1, "attributes", mKeyValue), varint(2, "dropped_attributes_count"), msg(3, "entity_refs", mEntityRef),
	}},
	mEntityRef: {name: "EntityRef", fields: []field{
		blob(1, "schema_url"), blob(2, "type"), blob(3, "id_keys"), blob(4, "description_keys"),
	}},

	mLogsRequest: {name: "ExportLogsServiceRequest", fields: []field{
		counted(1, "resource_logs", mResourceLogs, roleSum),
	}},
	mResourceLogs: {name: "ResourceLogs", fields: []field{
		msg(1, "resource", mResource), counted(2, "scope_logs", mScopeLogs, roleSum), blob(3, "schema_url"),
		counted(1000, "deprecated_scope_logs", mScopeLogs, roleFallback),
	}},
	mScopeLogs: {name: "ScopeLogs", fields: []field{
		msg(1, "scope", mInstrumentationScope), counted(2, "log_records", mLogRecord, roleSum), blob(3, "schema_url"),
	}},
	mLogRecord: {name: "LogRecord", item: true, fields: []field{
		fixed64(1, "time_unix_nano"), varint(2, "severity_number"), blob(3, "severity_text"),
		msg(5, "body", mAnyValue), msg(6, "attributes", mKeyValue), varint(7, "dropped_attributes_count"),
		fixed32(8, "flags"), id(9, "trace_id", traceIDSize), id(10, "span_id", spanIDSize),
		fixed64(11, "observed_time_unix_nano"), blob(12, "event_name"),
	}},

	mTraceRequest: {name: "ExportTraceServiceRequest", fields: []field{
		counted(1, "resource_spans", mResourceSpans, roleSum),
	}},
	mResourceSpans: {name: "ResourceSpans", fields: []field{
		msg(1, "resource", mResource), counted(2, "scope_spans", mScopeSpans, roleSum), blob(3, "schema_url"),
		counted(1000, "deprecated_scope_spans", mScopeSpans, roleFallback),
	}},
	mScopeSpans: {name: "ScopeSpans", fields: []field{
		msg(1, "scope", mInstrumentationScope), counted(2, "spans", mSpan, roleSum), blob(3, "schema_url"),
	}},
	mSpan: {name: "Span", item: true, fields: []field{
		id(1, "trace_id", traceIDSize), id(2, "span_id", spanIDSize), blob(3, "trace_state"),
		id(4, "parent_span_id", spanIDSize), blob(5, "name"), varint(6, "kind"),
		fixed64(7, "start_time_unix_nano"), fixed64(8, "end_time_unix_nano"), msg(9, "attributes", mKeyValue),
		varint(10, "dropped_attributes_count"), msg(11, "events", mEvent), varint(12, "dropped_events_count"),
		msg(13, "links", mLink), varint(14, "dropped_links_count"), msg(15, "status", mStatus), fixed32(16, "flags"),
	}},
	mEvent: {name: "Span.Event", fields: []field{
		fixed64(1, "time_unix_nano"), blob(2, "name"), msg(3, "attributes", mKeyValue),
		varint(4, "dropped_attributes_count"),
	}},
	mLink: {name: "Span.Link", fields: []field{
		id(1, "trace_id", traceIDSize), id(2, "span_id", spanIDSize), blob(3, "trace_state"),
		msg(4, "attributes", mKeyValue), varint(5, "dropped_attributes_count"), fixed32(6, "flags"),
	}},
	mStatus: {name: "Status", fields: []field{blob(2, "message"), varint(3, "code")}},

	mMetricsRequest: {name: "ExportMetricsServiceRequest", fields: []field{
		counted(1, "resource_metrics", mResourceMetrics, roleSum),
	}},
	mResourceMetrics: {name: "ResourceMetrics", fields: []field{
		msg(1, "resource", mResource), counted(2, "scope_metrics", mScopeMetrics, roleSum), blob(3, "schema_url"),
		counted(1000, "deprecated_scope_metrics", mScopeMetrics, roleFallback),
	}},
	mScopeMetrics: {name: "ScopeMetrics", fields: []field{
		msg(1, "scope", mInstrumentationScope), counted(2, "metrics", mMetric, roleSum), blob(3, "schema_url"),
	}},
	mMetric: {name: "Metric", fields: []field{
		blob(1, "name"), blob(2, "description"), blob(3, "unit"),
		counted(5, "gauge", mGauge, roleLast), counted(7, "sum", mSum, roleLast),
		counted(9, "histogram", mHistogram, roleLast),
		counted(10, "exponential_histogram", mExponentialHistogram, roleLast),
		counted(11, "summary", mSummary, roleLast), msg(12, "metadata", mKeyValue),
	}},
	mGauge: {name: "Gauge", fields: []field{counted(1, "data_points", mNumberDataPoint, roleSum)}},
	mSum: {name: "Sum", fields: []field{
		counted(1, "data_points", mNumberDataPoint, roleSum), varint(2, "aggregation_temporality"),
		varint(3, "is_monotonic"),
	}},
	mHistogram: {name: "Histogram", fields: []field{
		counted(1, "data_points", mHistogramDataPoint, roleSum), varint(2, "aggregation_temporality"),
	}},
	mExponentialHistogram: {name: "ExponentialHistogram", fields: []field{
		counted(1, "data_points", mExponentialHistogramDataPoint, roleSum), varint(2, "aggregation_temporality"),
	}},
	mSummary: {name: "Summary", fields: []field{counted(1, "data_points", mSummaryDataPoint, roleSum)}},
	mNumberDataPoint: {name: "NumberDataPoint", item: true, fields: []field{
		fixed64(2, "start_time_unix_nano"), fixed64(3, "time_unix_nano"), fixed64(4, "as_double"),
		msg(5, "exemplars", mExemplar), fixed64(6, "as_int"), msg(7, "attributes", mKeyValue), varint(8, "flags"),
	}},
	mHistogramDataPoint: {name: "HistogramDataPoint", item: true, fields: []field{
		fixed64(2, "start_time_unix_nano"), fixed64(3, "time_unix_nano"), fixed64(4, "count"), fixed64(5, "sum"),
		{num: 6, name: "bucket_counts", kind: kPackedFixed64}, {num: 7, name: "explicit_bounds", kind: kPackedFixed64},
		msg(8, "exemplars", mExemplar), msg(9, "attributes", mKeyValue), varint(10, "flags"),
		fixed64(11, "min"), fixed64(12, "max"),
	}},
	mExponentialHistogramDataPoint: {name: "ExponentialHistogramDataPoint", item: true, fields: []field{
		msg(1, "attributes", mKeyValue), fixed64(2, "start_time_unix_nano"), fixed64(3, "time_unix_nano"),
		fixed64(4, "count"), fixed64(5, "sum"), varint(6, "scale"), fixed64(7, "zero_count"),
		msg(8, "positive", mBuckets), msg(9, "negative", mBuckets), varint(10, "flags"),
		msg(11, "exemplars", mExemplar), fixed64(12, "min"), fixed64(13, "max"), fixed64(14, "zero_threshold"),
	}},
	mBuckets: {name: "ExponentialHistogramDataPoint.Buckets", fields: []field{
		varint(1, "offset"), {num: 2, name: "bucket_counts", kind: kPackedVarint},
	}},
	mSummaryDataPoint: {name: "SummaryDataPoint", item: true, fields: []field{
		fixed64(2, "start_time_unix_nano"), fixed64(3, "time_unix_nano"), fixed64(4, "count"), fixed64(5, "sum"),
		msg(6, "quantile_values", mValueAtQuantile), msg(7, "attributes", mKeyValue), varint(8, "flags"),
	}},
	mValueAtQuantile: {name: "SummaryDataPoint.ValueAtQuantile", fields: []field{
		fixed64(1, "quantile"), fixed64(2, "value"),
	}},
	mExemplar: {name: "Exemplar", fields: []field{
		fixed64(2, "time_unix_nano"), fixed64(3, "as_double"), id(4, "span_id", spanIDSize),
		id(5, "trace_id", traceIDSize), fixed64(6, "as_int"), msg(7, "filtered_attributes", mKeyValue),
	}},
}

func init() {
	for i := range schema {
		m := &schema[i]
		maxNum := int32(0)
		for _, f := range m.fields {
			maxNum = max(maxNum, f.num)
		}
		m.byNum = make([]int8, maxNum+1)
		for j := range m.byNum {
			m.byNum[j] = -1
		}
		for j, f := range m.fields {
			if m.byNum[f.num] >= 0 {
				panic("otlpwire: " + m.name + ": field " + f.name + " listed twice")
			}
			m.byNum[f.num] = int8(j)
		}
	}
}

// lookup returns the known field num of m, or nil.
func (m *message) lookup(num int32) *field {
	if num < 0 || int(num) >= len(m.byNum) {
		return nil
	}
	i := m.byNum[num]
	if i < 0 {
		return nil
	}
	return &m.fields[i]
}
