// Package clusteridentityprocessor enforces on the gateway that a client writes only as its own
// cluster: the k8s.cluster.name of every resource must equal the cluster that the authenticator
// (the clusterauth extension) derived from the client's credential. Resources without the attribute
// get it; resources claiming another cluster are rejected (default) or overwritten. The same
// attribute in a scope's, log record's, span's or data point's attributes, naming another cluster,
// is refused with its items (reject) or removed (overwrite): identity comes from the resource alone.
package clusteridentityprocessor
