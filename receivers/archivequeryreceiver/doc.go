// Package archivequeryreceiver serves a Loki-compatible read API over the audit archive
// (/loki/api/v1/query_range, /query, /labels, /label/{name}/values, /series), so that Grafana's
// Loki data source browses the archive. Readers authenticate with read-only credentials (bearer
// tokens or mTLS client certificates), separate from any write credential, and every query is
// recorded as an audit event of vigil's own, emitted into the receiver's logs pipeline (to be
// archived like the rest) before its results are returned.
package archivequeryreceiver
