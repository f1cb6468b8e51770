// Package promlabels is the one table between vigil's Kubernetes identity (OTLP resource
// attributes) and the labels of Prometheus remote write, used both ways: by the promrw and
// federate exporters (resource attribute -> label, Translator) and by the promrw receiver (label
// -> resource attribute). Cache keeps what the translation makes of each series across batches,
// for both exporters.
//
// The table is documented in docs/prometheus-labels.md; keep the two in step.
package promlabels

// Mapping is one row of the table.
type Mapping struct {
	Attribute string // OTLP resource attribute
	Label     string // Prometheus label
}

// Identity is the Kubernetes identity that vigil stamps on every signal, as Prometheus labels
// named as kube-state-metrics and the Prometheus Operator name them. job and instance come from
// service.name (with service.namespace: "namespace/name") and service.instance.id, as in
// Prometheus's OTLP translation; they are not in this table.
var Identity = []Mapping{
	{"k8s.cluster.name", "cluster"},
	{"k8s.namespace.name", "namespace"},
	{"k8s.pod.name", "pod"},
	{"k8s.node.name", "node"},
	{"k8s.container.name", "container"},
	{"k8s.deployment.name", "deployment"},
	{"k8s.statefulset.name", "statefulset"},
	{"k8s.daemonset.name", "daemonset"},
}

// ClusterLabel is the label of k8s.cluster.name.
const ClusterLabel = "cluster"

// AttributeOf returns the resource attribute of an identity label.
func AttributeOf(label string) (string, bool) {
	for _, m := range Identity {
		if m.Label == label {
			return m.Attribute, true
		}
	}
	return "", false
}

// LabelOf returns the label of an identity resource attribute.
func LabelOf(attr string) (string, bool) {
	for _, m := range Identity {
		if m.Attribute == attr {
			return m.Label, true
		}
	}
	return "", false
}
