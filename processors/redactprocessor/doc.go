// Package redactprocessor removes sensitive content from Kubernetes audit events before anything
// leaves vigil: for the resources it is configured for (by default secrets, TokenRequests and
// TokenReviews), the listed fields (by default data and stringData; the tokens) are removed from
// the request and response objects in every shape the apiserver records them — objects and
// their last-applied-configuration annotation and managedFields, lists, tables, JSON, merge,
// strategic-merge and apply patches, admission webhook patches — and the event is marked with
// the annotation "audit.vigil.dev/redacted" listing what was removed. It fails closed: an object
// whose shape it does not understand is removed whole, marked ("audit.vigil.dev/removed") and
// counted by reason.
package redactprocessor
