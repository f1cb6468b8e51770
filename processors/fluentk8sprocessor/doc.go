// Package fluentk8sprocessor gives logs that came from Fluent Bit or fluentd through the
// fluent_forward receiver vigil's identity: the `kubernetes` map that Fluent Bit's kubernetes
// filter or fluentd's kubernetes_metadata filter added to each record (which the receiver leaves
// in the record's attributes) becomes the resource attributes the agent's containerlogs receiver
// sets (k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.container.name, k8s.node.name, chosen
// pod labels); records are grouped into one resource per container. The line loses its trailing
// newline and gets a severity, `stream` becomes log.iostream. The mapping is internal/fluentk8s,
// shared with the Fluent Bit output plugin.
package fluentk8sprocessor
