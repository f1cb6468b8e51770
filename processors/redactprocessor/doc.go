// Package redactprocessor removes sensitive content from Kubernetes audit events before anything
// leaves vigil: for the resources it is configured for (by default secrets), the listed fields
// (by default data and stringData) of the request and response objects — and of every item of a
// list response — are deleted, and the event is marked with the annotation
// "audit.vigil.dev/redacted" listing what was removed, so auditors can see that it was.
package redactprocessor
