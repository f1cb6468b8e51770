// Package clusterauthextension is a server authenticator that derives the cluster a client writes
// for from its credential: the subject (CN) or a SAN of its mTLS client certificate, or a bearer
// token. It puts the cluster name into client.Info.Auth under the attribute "k8s.cluster.name",
// where the clusteridentity processor enforces it against the payload.
package clusterauthextension
