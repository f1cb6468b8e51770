// Package otlprelayreceiver is vigil's OTLP relay: the agent's fast path for durable forwarding.
// It receives OTLP export requests (logs, traces, metrics; gRPC and HTTP), checks them on the
// wire without decoding them (internal/otlpwire), stamps the node's identity on every resource,
// writes the request bytes to the durable queue (walstorage, fsync'd) and acknowledges; senders
// then forward the bytes over OTLP/gRPC to the gateway, several queued requests per export,
// retrying until the gateway takes them. Nothing passes through the collector pipeline: the
// pipeline the receiver is listed in needs an exporter only because the collector requires one
// (nop).
package otlprelayreceiver
