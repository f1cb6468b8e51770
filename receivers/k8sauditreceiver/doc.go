// Package k8sauditreceiver receives Kubernetes audit events from the kube-apiserver's audit
// webhook backend: POSTs of an audit.k8s.io/v1 EventList (gzip accepted). Each event becomes one
// log record whose body is the event's JSON exactly as sent, with the audit fields as attributes
// and the authenticated cluster on the resource. Re-sent events, identified by (auditID, stage),
// are stored once within a window. Decoding (decode.go) is free of any transport.
package k8sauditreceiver
