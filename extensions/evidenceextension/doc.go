// Package evidenceextension holds vigil's recent-context index: for each resource (cluster,
// namespace, pod, service, instance) the last few warning-or-worse log lines, redacted by the
// redact processor's rules and bounded in bytes, in a bounded LRU of resources. The evidence
// processor (processors/evidenceprocessor) writes it from a logs pipeline; the alert exporter
// reads it when it sends an alert, to attach the lines of the alert's pods as annotations. It is
// not a log store: it keeps a handful of lines per pod, in memory only.
package evidenceextension
