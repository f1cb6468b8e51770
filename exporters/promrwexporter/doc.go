// Package promrwexporter sends metrics to Prometheus remote write (1.0, protobuf + snappy):
// OTLP metrics are translated as Prometheus translates OTLP (otlptranslator, exemplars, and
// exponential histograms as native histograms), the Kubernetes identity becomes the labels of
// internal/promlabels, and batches wait in exporterhelper's sending queue, durable on a storage
// extension (walstorage).
//
// The contrib prometheusremotewrite exporter was considered first: its queue cannot use a
// storage extension (its WAL is a directory of its own) and it names resource attributes only
// k8s_cluster_name and the like, not cluster, namespace, pod.
package promrwexporter
