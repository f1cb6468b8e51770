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

	"github.com/gorilla/websocket"
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

	// A metric query on the API port answers what the CLI answers.
	mq := `sum by (user) (count_over_time({cluster="local", resource="secrets"}[6h]))`
	at := audittest.T0.Add(5 * time.Hour).Format(time.RFC3339)
	resp, err = http.Get("http://" + a.apiAddr + "/loki/api/v1/query?" + url.Values{"query": {mq}, "time": {at}}.Encode())
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var qr loghttp.QueryResponse
	require.NoError(t, json.Unmarshal(b, &qr))
	fromAPI := map[string]string{}
	for _, s := range qr.Data.Result.(loghttp.Vector) {
		fromAPI[string(s.Metric["user"])] = s.Value.String()
	}
	rows, err = csv.NewReader(strings.NewReader(cli(mq, "--to", at, "-o", "csv"))).ReadAll()
	require.NoError(t, err)
	fromCLI := map[string]string{}
	for _, r := range rows[1:] {
		fromCLI[r[1]] = r[2]
	}
	require.NotEmpty(t, fromCLI)
	require.Equal(t, fromCLI, fromAPI)

	// A live tail on the API port: the archived events since start, then those sent afterwards as
	// the archive exporter uploads them.
	tq := `{cluster="local", user="alice"}`
	wantTail := sorted(lines(cli(tq, "-o", "jsonl")))
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+a.apiAddr+"/loki/api/v1/tail?"+url.Values{"query": {tq},
		"start": {audittest.T0.Add(-time.Hour).Format(time.RFC3339)}, "limit": {"1000"}}.Encode(), nil)
	require.NoError(t, err)
	defer conn.Close()
	var tailed []string
	readTail := func(n int) {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
		for len(tailed) < n {
			var frame loghttp.TailResponse
			require.NoError(t, conn.ReadJSON(&frame), "%d of %d tailed", len(tailed), n)
			for _, s := range frame.Streams {
				for _, e := range s.Entries {
					tailed = append(tailed, e.Line)
				}
			}
		}
	}
	readTail(len(wantTail))
	require.Equal(t, wantTail, sorted(tailed))
	later := audittest.EventsAt(audittest.T0.Add(5*time.Hour), []string{"local"}, 30)
	items = make([]json.RawMessage, len(later))
	for i, e := range later {
		items[i], _ = json.Marshal(e)
		if e.User.Username == "alice" {
			wantTail = append(wantTail, string(items[i]))
		}
	}
	body, _ = json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	resp, err = http.Post("http://"+a.auditAddr+"/audit", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	readTail(len(wantTail))
	require.Equal(t, sorted(wantTail), sorted(tailed))

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
