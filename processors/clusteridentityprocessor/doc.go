// Package clusteridentityprocessor enforces on the gateway that a client writes only as its own
// cluster: the k8s.cluster.name of every resource must equal the cluster that the authenticator
// (the clusterauth extension) derived from the client's credential. Resources without the attribute
// get it; resources claiming another cluster are rejected (default) or overwritten.
package clusteridentityprocessor
