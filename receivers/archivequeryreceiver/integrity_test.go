package archivequeryreceiver

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/storage/archive"
)

// TestWhatCannotBeCompiledIs400: pipelines of log and metric queries that cannot be compiled
// are refused with 400 and Loki's error shape (a plain-text message), never answered with every
// event, and never 500.
func TestWhatCannotBeCompiledIs400(t *testing.T) {
	f := start(t, nil, nil)
	for q, msg := range map[string]string{
		`{cluster="eu"} |~ "a{2000}"`:                                       "invalid repeat count",
		`{cluster="eu"} | json | line_format "{{ nosuchfunc .verb }}"`:      `function "nosuchfunc" not defined`,
		`{cluster="eu"} | json | verb=~"(a{1001})"`:                         "invalid repeat count",
		`count_over_time({cluster="eu"} |~ "a{2000}" [5m])`:                 "invalid repeat count",
		`sum by (x) (rate({cluster="eu"} | json | verb=~"(a{1001})" [5m]))`: "invalid repeat count",
	} {
		code, body := f.get(t, "/loki/api/v1/query_range", rangeParams(q, 10, "backward"), readerToken)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
		require.Contains(t, string(body), msg, q)
		require.NotContains(t, string(body), "auditID", q)
	}
	code, body := f.get(t, "/loki/api/v1/series", map[string][]string{"match[]": {`{cluster="eu"} |~ "a{2000}"`}}, readerToken)
	require.Equal(t, http.StatusBadRequest, code, string(body))
}

// TestDamagedArchiveAnswersWithWarnings: a query over a tampered archive answers the events of the
// intact objects with 200 and names the damage in Loki's warnings field; the query's audit record
// counts the problems.
func TestDamagedArchiveAnswersWithWarnings(t *testing.T) {
	f := start(t, nil, nil)
	stream := archive.Stream{Tenant: "default", Cluster: "us"}
	entries, err := archive.Manifest(context.Background(), f.engine.Bucket, stream)
	require.NoError(t, err)
	require.Len(t, entries, 5)
	require.NoError(t, os.Remove(filepath.Join(f.dir, stream.ManifestName(2))))
	require.NoError(t, os.Remove(filepath.Join(f.dir, entries[3].Object)))
	p := filepath.Join(f.dir, entries[4].Object)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x04
	require.NoError(t, os.WriteFile(p, b, 0o600))

	code, body := f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster=~"eu|us"}`, 1000, "forward"), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var resp loghttp.QueryResponse
	require.NoError(t, json.Unmarshal(body, &resp))
	require.Len(t, resp.Warnings, 3, "%s", resp.Warnings)
	for i, want := range []string{"manifest_gap manifest " + stream.ManifestName(2), "missing object " + entries[3].Object, "modified object " + entries[4].Object} {
		require.Contains(t, resp.Warnings[i], "archive not intact: "+want)
	}
	got, _ := lokiLines(t, body)
	var want []string
	for i, e := range f.events {
		if e.Cluster == "eu" || (i-200)/40 == 0 || (i-200)/40 == 2 { // us objects 2, 4 and 5 are lost
			line, _ := json.Marshal(e)
			want = append(want, string(line))
		}
	}
	sort.Strings(want)
	require.Equal(t, want, got)

	series := rangeParams("", 0, "")
	series.Set("match[]", `{cluster="us"}`)
	code, body = f.get(t, "/loki/api/v1/series", series, readerToken)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"cluster":"us"`)
	require.Contains(t, string(body), `"warnings":["archive not intact: manifest_gap`)

	code, body = f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 10, "forward"), readerToken)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, string(body), "warnings", "the intact stream answers without warnings")

	recs := f.sink.AllLogs()
	require.Len(t, recs, 3)
	first := recs[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	require.True(t, strings.Contains(first, `"vigil.dev/archive-problems":"3"`), first)
	last := recs[2].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	require.NotContains(t, last, "archive-problems")
}
