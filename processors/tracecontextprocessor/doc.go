// Package tracecontextprocessor fills the trace context of log records that carry it only in their
// content: a W3C traceparent, or trace and span IDs under the names logging libraries use
// (trace_id, traceId, traceID, otelTraceID, trace.id, ...), in the record's attributes or in its
// body (a map, a JSON object or a logfmt line). Records whose TraceID is set are left as they are;
// invalid values are ignored and counted. With the IDs in the record, Loki receives them as
// structured metadata and Grafana links each line to its trace.
package tracecontextprocessor
