// Package opensearchexporter indexes Kubernetes audit events (log records from the k8saudit
// receiver) into OpenSearch for short-term search. It installs, idempotently, an index template
// with explicit mappings and an ISM policy that deletes indices after the retention period; it
// writes one index per day of event time (<index_prefix>-YYYY.MM.DD), with the document _id
// derived from (cluster, auditID, stage), so a replay overwrites instead of duplicating. Bulk
// responses are handled per item: 429 and 5xx items are retried with backoff and jitter,
// permanent 4xx items go to the dead-letter directory and are counted, never retried forever.
package opensearchexporter
