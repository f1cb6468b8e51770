package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vigil-obs/vigil/storage/archive"
)

// sealedEntryMetric is the archive exporter's gauge of the last sealed manifest entry per chain.
const sealedEntryMetric = "vigil_archive_sealed_entry"

// prometheusAnchors asks the Prometheus at url for the highest sealed entry of every chain over
// lookback: anchors kept outside the bucket, which a cut-off chain cannot match. Gateways that
// restarted, and several scrapes, are folded by tenant, cluster and writer (a series without
// writer is the chain of a single writer).
func prometheusAnchors(ctx context.Context, url string, lookback time.Duration) ([]archive.Seal, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("cannot make a Prometheus client for %s: %w", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	query := fmt.Sprintf("max by (tenant, cluster, writer) (max_over_time(%s[%s]))", sealedEntryMetric, model.Duration(lookback))
	v, _, err := promv1.NewAPI(c).Query(ctx, query, time.Now())
	if err != nil {
		return nil, fmt.Errorf("cannot query %s for %s: %w", url, query, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("%s answered %s to %s, want a vector", url, v.Type(), query)
	}
	anchors := make([]archive.Seal, 0, len(vec))
	for _, s := range vec {
		f := float64(s.Value)
		if f < 0 || f != math.Trunc(f) || s.Metric["tenant"] == "" || s.Metric["cluster"] == "" || !archive.ValidWriter(string(s.Metric["writer"])) {
			return nil, fmt.Errorf("%s answered a sample that is not a sealed entry: %s", url, s)
		}
		anchors = append(anchors, archive.Seal{Tenant: string(s.Metric["tenant"]), Cluster: string(s.Metric["cluster"]),
			Writer: string(s.Metric["writer"]), Seq: uint64(f)})
	}
	return anchors, nil
}
