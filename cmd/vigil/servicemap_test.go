package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// requireServiceMapInPrometheus checks what two traces sent by TestTracesFromTwoClustersReachJaegerWhole
// left in Prometheus: frontend (cluster-a) called backend in cluster-b once and backend in cluster-a
// once. The service map (servicemap connector) has the two edges, with each side's cluster, as
// Grafana's service graph reads them; the RED metrics (red connector) count per (cluster, service)
// and, summed without the cluster, per service overall.
func requireServiceMapInPrometheus(t *testing.T, prom *testutil.Prometheus) {
	t.Helper()
	edges := map[string]float64{
		`{__name__="traces_service_graph_request_total", client="frontend", client_k8s_cluster_name="cluster-a", server="backend", server_k8s_cluster_name="cluster-b"}`: 1,
		`{__name__="traces_service_graph_request_total", client="frontend", client_k8s_cluster_name="cluster-a", server="backend", server_k8s_cluster_name="cluster-a"}`: 1,
	}
	testutil.Eventually(t, 90*time.Second, func() error {
		got, err := promVector(prom, `traces_service_graph_request_total`)
		if err != nil {
			return err
		}
		if !maps.Equal(got, edges) {
			return fmt.Errorf("service map edges %v, want %v", got, edges)
		}
		return nil
	})
	// The latency histogram of the cross-cluster edge, as Grafana's service graph queries it.
	count, err := prom.Query(`sum(traces_service_graph_request_server_seconds_count{client="frontend", server="backend", client_k8s_cluster_name="cluster-a", server_k8s_cluster_name="cluster-b"})`)
	require.NoError(t, err)
	require.Equal(t, 1.0, count)
	failed, err := prom.Query(`sum(traces_service_graph_request_failed_total)`)
	require.NoError(t, err)
	require.Equal(t, 0.0, failed)

	// RED per (cluster, service): frontend's two spans per trace in cluster-a; backend's two
	// (server and database) once in each cluster. Per service overall: summed without the cluster.
	red := map[string]map[string]float64{
		`sum by (cluster, job) (traces_span_metrics_calls_total)`: {
			`{cluster="cluster-a", job="frontend"}`: 4,
			`{cluster="cluster-a", job="backend"}`:  2,
			`{cluster="cluster-b", job="backend"}`:  2,
		},
		`sum by (job) (traces_span_metrics_calls_total)`: {`{job="frontend"}`: 4, `{job="backend"}`: 4},
	}
	testutil.Eventually(t, 60*time.Second, func() error { // red flushes on its own clock
		for q, want := range red {
			got, err := promVector(prom, q)
			if err != nil {
				return err
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("%s: %v, want %v", q, got, want)
			}
		}
		return nil
	})
}

// promVector runs an instant query and returns each series of the vector, printed as Prometheus
// prints a label set, with its value.
func promVector(p *testutil.Prometheus, q string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query="+url.QueryEscape(q), http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("cannot decode Prometheus answer to %q: %w", q, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	out := map[string]float64{}
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		var v float64
		if _, err := fmt.Sscan(s, &v); err != nil {
			return nil, fmt.Errorf("query %q: value %q: %w", q, s, err)
		}
		out[labels.FromMap(r.Metric).String()] = v
	}
	return out, nil
}
