// Package redconnector is a traces → metrics connector that turns spans into RED metrics (rate,
// errors, duration): for each resource (cluster, namespace, pod, service...) and each service,
// span name, span kind and status code, a calls counter and a duration histogram, cumulative,
// with exemplars that carry the trace and span IDs of some of the spans counted, sent on every
// metrics_flush_interval.
//
// Its output is the contrib spanmetrics connector's (v0.162.0, default settings, histogram in
// milliseconds): the same metric names (traces.span.metrics.calls, traces.span.metrics.duration,
// unit ms), attribute names and values (service.name, span.name, span.kind, status.code,
// collector.instance.id), resource attributes, scope, bucket bounds, overflow series and the
// calls counter's first value 0 — so that dashboards and queries written for it keep working. What
// differs is the cost: a span costs a map lookup by its name and a few increments; labels are
// built once per new series. The number of resources and series held is bounded.
package redconnector
