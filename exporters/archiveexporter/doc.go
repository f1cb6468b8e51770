// Package archiveexporter writes audit events to the tamper-evident archive (storage/archive) in
// a bucket (a filesystem directory for now; S3, GCS and Azure through thanos-io/objstore are the
// next step). Events are first staged durably (fsync, in the
// walstorage extension) per cluster and acknowledged; an object is sealed when it reaches
// max_object_bytes or max_object_age, or on shutdown, then written under its deterministic name
// with its hash-chained manifest entry. Sealing is recorded before writing, so a replay after a
// crash writes the same names with the same bytes.
package archiveexporter
