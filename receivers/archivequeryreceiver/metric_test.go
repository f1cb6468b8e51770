package archivequeryreceiver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// secretReads counts the secrets events per user in (from, to], except those of lost objects.
func secretReads(events []audittest.Event, from, to time.Time, lost func(i int) bool) map[string]float64 {
	out := map[string]float64{}
	for i, e := range events {
		if e.ObjectRef.Resource == "secrets" && e.StageTime.After(from) && !e.StageTime.After(to) && (lost == nil || !lost(i)) {
			out[e.User.Username]++
		}
	}
	return out
}

// TestMetricQueries: query_range answers a matrix and query a vector, in Loki's shapes, with the
// counts of the events in each window; the query is audited.
func TestMetricQueries(t *testing.T) {
	f := start(t, nil, nil)
	const q = `sum by (user) (count_over_time({resource="secrets"}[30m]))`
	step := 10 * time.Minute
	params := url.Values{"query": {q}, "start": {audittest.T0.Format(time.RFC3339)},
		"end": {audittest.T0.Add(2 * time.Hour).Format(time.RFC3339)}, "step": {"10m"}}
	code, body := f.get(t, "/loki/api/v1/query_range", params, readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var resp loghttp.QueryResponse
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	require.Equal(t, loghttp.ResultType(loghttp.ResultTypeMatrix), resp.Data.ResultType)
	got := map[string]map[int64]float64{}
	for _, s := range resp.Data.Result.(loghttp.Matrix) {
		u := string(s.Metric["user"])
		got[u] = map[int64]float64{}
		for _, p := range s.Values {
			got[u][int64(p.Timestamp)] = float64(p.Value)
		}
	}
	want := map[string]map[int64]float64{}
	for ts := audittest.T0; !ts.After(audittest.T0.Add(2 * time.Hour)); ts = ts.Add(step) {
		for u, n := range secretReads(f.events, ts.Add(-30*time.Minute), ts, nil) {
			if want[u] == nil {
				want[u] = map[int64]float64{}
			}
			want[u][ts.UnixMilli()] = n
		}
	}
	require.Equal(t, want, got)

	at := audittest.T0.Add(95 * time.Minute)
	code, body = f.get(t, "/loki/api/v1/query", url.Values{"query": {q}, "time": {at.Format(time.RFC3339)}}, readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	resp = loghttp.QueryResponse{}
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	require.Equal(t, loghttp.ResultType(loghttp.ResultTypeVector), resp.Data.ResultType)
	inst := map[string]float64{}
	for _, s := range resp.Data.Result.(loghttp.Vector) {
		inst[string(s.Metric["user"])] = float64(s.Value)
	}
	require.Equal(t, secretReads(f.events, at.Add(-30*time.Minute), at, nil), inst)

	require.Equal(t, 2, f.sink.LogRecordCount(), "metric queries are audited")
	rec := f.sink.AllLogs()[1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	require.Contains(t, rec, `"vigil.dev/query":"sum by (user) (count_over_time`)
}

// TestMetricQueryLimits: a query over the series or points limit is refused with 400 naming the
// limit and the setting.
func TestMetricQueryLimits(t *testing.T) {
	f := start(t, nil, func(c *Config) { c.MaxQuerySeries = 3; c.MaxPoints = 100 })
	params := url.Values{"query": {`sum by (user, verb) (count_over_time({cluster="eu"}[1h]))`}, "start": {audittest.T0.Format(time.RFC3339)},
		"end": {audittest.T0.Add(2 * time.Hour).Format(time.RFC3339)}, "step": {"10m"}}
	code, body := f.get(t, "/loki/api/v1/query_range", params, readerToken)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), "the query exceeds the maximum of 3 series (archivequery max_query_series)")

	params.Set("query", `count_over_time({cluster="eu"}[1h])`)
	params.Set("step", "1m")
	code, body = f.get(t, "/loki/api/v1/query_range", params, readerToken)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), "the query exceeds the maximum of 100 points per series (archivequery max_points)")
}

// TestMetricQueryOverADamagedArchive: counts of the intact objects, the damage in warnings.
func TestMetricQueryOverADamagedArchive(t *testing.T) {
	f := start(t, nil, nil)
	stream := archive.Stream{Tenant: "default", Cluster: "us"}
	entries, err := archive.Manifest(context.Background(), f.engine.Bucket, stream)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(f.dir, entries[1].Object)))
	at := audittest.T0.Add(3 * time.Hour)
	code, body := f.get(t, "/loki/api/v1/query", url.Values{"query": {`sum by (user) (count_over_time({resource="secrets"}[4h]))`},
		"time": {at.Format(time.RFC3339)}}, readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var resp loghttp.QueryResponse
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	require.Len(t, resp.Warnings, 1)
	require.Contains(t, resp.Warnings[0], "archive not intact: missing object "+entries[1].Object)
	got := map[string]float64{}
	for _, s := range resp.Data.Result.(loghttp.Vector) {
		got[string(s.Metric["user"])] = float64(s.Value)
	}
	require.Equal(t, secretReads(f.events, at.Add(-4*time.Hour), at, func(i int) bool { return (i-200)/40 == 1 && i >= 200 }), got)
	rec := f.sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	require.Contains(t, rec, `"vigil.dev/archive-problems":"1"`)
}
