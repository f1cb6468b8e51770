// Package logseverity finds the severity of a log line: from a level field (JSON, logfmt), a klog
// header, a level word near its start, else from the stream it was written to (stdout INFO,
// stderr ERROR). The containerlogs receiver and the Fluent Bit/fluentd mapping (internal/fluentk8s)
// share it, so that a line gets the same severity whichever way it reaches vigil.
package logseverity
