// Package lokipushreceiver serves Loki's push API (/loki/api/v1/push, protobuf + snappy and
// JSON, optionally gzip-encoded) so that Promtail, Alloy and Fluent Bit's loki output can send
// to vigil unchanged. Requests authenticate like vigil's other receivers (clusterauth); the
// authenticated cluster is stamped on every record and streams that claim another cluster are
// refused. Stream labels become resource attributes with the inverse of the lokipush exporter's
// mapping. A request is answered 204 only once the pipeline accepted it (durable queues: after
// fsync).
package lokipushreceiver
