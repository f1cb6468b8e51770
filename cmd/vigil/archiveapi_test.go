package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestAllInOneArchiveReadAPI: audit events sent to the all-in-one's webhook are archived; the
// Loki-compatible read API answers queries with the same lines as `vigil archive query`, and
// each query is itself archived as an audit event of cluster "vigil".
func TestAllInOneArchiveReadAPI(t *testing.T) {
	a := startAllInOne(t, "--set", "exporters::archive::max_object_age=1s")
	events := audittest.Events([]string{"local"}, 300)
	items := make([]json.RawMessage, len(events))
	for i, e := range events {
		items[i], _ = json.Marshal(e)
	}
	body, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	resp, err := http.Post("http://"+a.auditAddr+"/audit", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	cli := func(args ...string) string {
		out, errOut, err := executeSplit(t, append([]string{"archive", "query", "--data-dir", a.dataDir, "--limit", "0"}, args...)...)
		require.NoError(t, err, errOut)
		return out
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := len(lines(cli(`{cluster="local"}`, "-o", "jsonl"))); n != len(events) {
			return fmt.Errorf("%d of %d events archived", n, len(events))
		}
		return nil
	})

	api := func(q string) []string {
		params := url.Values{"query": {q}, "limit": {"1000"}, "start": {audittest.T0.Add(-time.Hour).Format(time.RFC3339)},
			"end": {audittest.T0.Add(6 * time.Hour).Format(time.RFC3339)}}
		resp, err := http.Get("http://" + a.apiAddr + "/loki/api/v1/query_range?" + params.Encode())
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		var qr loghttp.QueryResponse
		require.NoError(t, json.Unmarshal(b, &qr))
		var out []string
		for _, s := range qr.Data.Result.(loghttp.Streams) {
			for _, e := range s.Entries {
				out = append(out, e.Line)
			}
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s []string) []string { sort.Strings(s); return s }
	for _, q := range []string{`{cluster="local", user="alice"}`, `{verb="delete"} |= "payments" | json | responseStatus_code="403"`} {
		want := sorted(lines(cli(q, "-o", "jsonl")))
		require.NotEmpty(t, want, q)
		require.Equal(t, want, api(q), q)
	}
	q := `{resource="secrets"} | json | line_format "{{.user_username}} {{.verb}} {{.objectRef_name}}"`
	rows, err := csv.NewReader(strings.NewReader(cli(q, "-o", "csv"))).ReadAll()
	require.NoError(t, err)
	var want []string
	for _, r := range rows[1:] {
		want = append(want, r[8])
	}
	require.Equal(t, sorted(want), api(q))

	testutil.Eventually(t, 30*time.Second, func() error {
		recs := lines(cli(`{cluster="vigil", verb="query", user="anonymous"}`, "-o", "jsonl"))
		if len(recs) < 3 {
			return fmt.Errorf("%d query records archived, want 3", len(recs))
		}
		if !strings.Contains(strings.Join(recs, "\n"), `"vigil.dev/query":"{cluster=\"local\", user=\"alice\"}"`) {
			return fmt.Errorf("the first query is not in the records: %s", recs)
		}
		return nil
	})
}
