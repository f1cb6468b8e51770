// Package promrwreceiver receives Prometheus remote write (1.0 prometheus.WriteRequest and 2.0
// io.prometheus.write.v2.Request, protobuf + snappy, POST /api/v1/write) and turns the series
// into OTLP metrics for the metrics pipeline. The cluster comes from the credentials (the
// clusterauth extension), as for every vigil receiver: series that name another cluster are
// refused. Labels map to resource attributes with the table of internal/promlabels.
package promrwreceiver
