// Package evidenceprocessor feeds vigil's recent-context index (extensions/evidenceextension)
// from a logs pipeline: every record that Loki will label warn, error or fatal is recorded, under
// its resource (cluster, namespace, pod, service, instance), redacted and bounded by the index.
// It passes every record on unchanged.
package evidenceprocessor
