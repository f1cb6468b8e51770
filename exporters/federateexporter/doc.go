// Package federateexporter keeps the latest value of every series that reaches it and serves them
// on vigil's API port as Prometheus's /federate does, so that a central Prometheus scrapes one
// gateway instead of every cluster. Series are named and labelled as remote write names them
// (Prometheus's OTLP translation, the identity labels of docs/prometheus-labels.md); the series
// exposed are those of the configured selectors, narrowed by the request's match[] parameters.
package federateexporter
