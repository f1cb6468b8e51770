// Package lokipushexporter sends logs to Loki's push API (/loki/api/v1/push, protobuf + snappy,
// Loki's own push types) with a bounded, documented label set; everything else travels as
// structured metadata. Each cluster's tenant goes in X-Scope-OrgID. 429 and 5xx are retried from
// the exporter's (durable) sending queue; other 4xx answers are counted and written, with
// Loki's reason, to a dead-letter file. The label mapping is documented in README.md.
package lokipushexporter
