// Package alertexporter is the streaming alert core as a collector metrics exporter (type
// "alert"). It evaluates ordinary Prometheus rule files as samples arrive: metrics are converted
// to Prometheus samples with Prometheus's OTLP naming, kept in an in-memory series store
// (storage/series) that holds only what the rules need, and each rule group that selects an
// arriving series is re-evaluated by Prometheus's own rules package and PromQL engine, at most
// once per min_eval_interval (and at least once per group interval). Alerts go to every
// configured Alertmanager through Prometheus's notifier (API v2), re-sent while firing and
// resolved on recovery.
package alertexporter
