// Package out is the Fluent Bit output plugin out_vigil without cgo: its configuration as Fluent
// Bit users write it, the mapping of records to OTLP log records (internal/fluentk8s: the
// identity the agent gives container logs) and the OTLP/gRPC export whose outcome decides what
// the plugin answers Fluent Bit: OK only once vigil acknowledged the export (vigil acknowledges
// after fsync), RETRY on push-back or an unreachable destination, ERROR for records that can
// never be sent. cmd/fluent-bit-vigil is the c-shared shim around it.
package out
