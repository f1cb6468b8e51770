// Package k8spod finds the Kubernetes pod that sent a signal and gives the resource attributes
// naming it (namespace, pod, workload, chosen labels). It holds an informer cache of the pods of
// one node, each stripped to the fields it reads, and associates a resource with a pod by
// k8s.pod.uid, by k8s.pod.name with k8s.namespace.name, by k8s.pod.ip, else by the address of
// the connection the data came from. The k8senrich processor and the otlprelay receiver use it.
package k8spod
