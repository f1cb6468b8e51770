// Package fluentk8s maps a log record as Fluent Bit or fluentd hand it on — a map with the
// `kubernetes` metadata of Fluent Bit's kubernetes filter or fluentd's kubernetes_metadata filter,
// the line in `log` or `message`, `stream`, `time` and level fields — to vigil's identity: the
// same resource attributes the agent's containerlogs receiver gives a container's lines
// (k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.container.name, with k8s.node.name from
// `host`), and the same body and severity. It is free of transport: the Fluent Bit output plugin
// (cmd/fluent-bit-vigil) feeds it msgpack-decoded records, the fluentk8s processor the
// attributes the fluent_forward receiver decoded.
package fluentk8s
