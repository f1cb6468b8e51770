// Package servicemapconnector is a traces → metrics connector that turns requests between services
// into the edges of a service map: it pairs each client-side span (kind CLIENT or PRODUCER) with
// its server-side child (SERVER or CONSUMER: same trace ID, parent span ID = the client's span ID),
// even when the two arrive in different batches and from different clusters, and counts each
// request under its client service and cluster and its server service and cluster. The metrics
// carry the names Grafana Tempo's metrics-generator gives them (traces_service_graph_request_total,
// traces_service_graph_request_failed_total, traces_service_graph_request_server_seconds,
// traces_service_graph_request_client_seconds; labels client, server, connection_type), so
// Grafana's service graph view draws them, with the clusters as client_k8s_cluster_name and
// server_k8s_cluster_name.
//
// Halves wait for their pair in a bounded store (max_pending_edges, each for at most wait); halves
// that never find it are counted. The number of distinct edges is bounded too (max_edges).
package servicemapconnector
