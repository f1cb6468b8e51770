// Package k8senrichprocessor stamps every signal on the agent with its Kubernetes identity:
// k8s.cluster.name (from configuration, overwriting whatever the payload claims), k8s.node.name,
// and, when enabled, the namespace, pod, workload and chosen labels of the pod that sent it, looked
// up in an informer cache limited to the pods of the agent's own node.
package k8senrichprocessor
