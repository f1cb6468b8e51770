// Package otlpwire checks and rewrites OTLP export requests (ExportLogsServiceRequest,
// ExportTraceServiceRequest, ExportMetricsServiceRequest) in their protobuf encoding, without
// decoding them into pdata and without allocating: the agent's relay path validates a request,
// counts its items, stamps resource attributes and forwards the bytes.
//
// Check validates a request and counts its items. SetResourceAttributes sets the same string
// attributes on every resource of a request; SetResourceAttributesFunc sets attributes chosen
// per resource by a function that reads the resource's attributes through a Resource (the
// relay's pod metadata, looked up by k8s.pod.uid). Decoded with pdata, what they return equals
// the request decoded with pdata after PutStr of those attributes; a ResourceX that gets no
// attributes is copied byte for byte. A Splitter cuts a traces or metrics request into one
// request per owner of its spans (by trace ID) or data points (by series), for the relay that
// routes them over several gateways; it allocates only to grow its reused buffers.
//
// Check accepts a subset of what pdata's UnmarshalProto (go.opentelemetry.io/collector/pdata
// v1.68.0) accepts, and on the requests seen in practice exactly what it accepts. It mirrors pdata:
//   - unknown fields are skipped, with pdata's reading of groups (wire types 3 and 4): a group
//     ends at its end-group tag or after the first field inside it that is not a group, and a group
//     that ends at the end of its message is an error;
//   - a known field with another wire type is an error, except repeated fixed64/double fields
//     (HistogramDataPoint bucket_counts and explicit_bounds), which may be packed (length a
//     multiple of 8) or not, and ExponentialHistogramDataPoint.Buckets bucket_counts (varints,
//     packed or not);
//   - trace ids have 0 or 16 bytes, span ids 0 or 8; strings are not checked for UTF-8;
//   - field number 0 and truncated data are errors;
//   - a field that occurs twice is accepted (pdata keeps the last value, or merges messages);
//   - counts are pdata's after it decodes: a Metric's data points are those of its last data
//     field (gauge, sum, histogram, exponential_histogram, summary), and a ResourceLogs /
//     ResourceSpans / ResourceMetrics without scope field 2 counts its deprecated field 1000.
//
// Check is stricter than pdata in three ways only, none of which a protobuf encoder produces:
// messages nested more than MaxDepth deep (pdata has no limit), a 10-byte varint whose last
// byte is more than 1 (pdata drops the bits that overflow 64), and a tag whose field number
// exceeds 2^31-1 (pdata truncates it to 32 bits).
package otlpwire
