package main

import (
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
)

// secretGets counts the get events of secrets per user in (from, to].
func secretGets(events []audittest.Event, from, to time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, e := range events {
		if e.ObjectRef.Resource == "secrets" && e.Verb == "get" && e.StageTime.After(from) && !e.StageTime.After(to) {
			out[e.User.Username]++
		}
	}
	return out
}

// TestArchiveMetricQuery: "secret reads per user" per step (--step: a range query) and once at
// --to (an instant query), in csv, table and Loki's JSON.
func TestArchiveMetricQuery(t *testing.T) {
	dataDir, events := newDataDir(t) // from T0, one event per 30 s per cluster, 150 min
	const q = `sum by (user) (count_over_time({resource="secrets", verb="get"}[1h]))`
	from, to, step := audittest.T0, audittest.T0.Add(3*time.Hour), 30*time.Minute
	args := []string{"archive", "query", q, "--data-dir", dataDir, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--step", "30m"}

	out, errOut, err := executeSplit(t, append(args, "-o", "csv")...)
	require.NoError(t, err, errOut)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"time", "user", "value"}, rows[0])
	got := map[string]float64{}
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[2], 64)
		require.NoError(t, err)
		got[r[0]+" "+r[1]] = v
	}
	want := map[string]float64{}
	for ts := from; !ts.After(to); ts = ts.Add(step) {
		for u, n := range secretGets(events, ts.Add(-time.Hour), ts) {
			want[ts.Format(time.RFC3339)+" "+u] = n
		}
	}
	require.NotEmpty(t, want)
	require.Equal(t, want, got)

	out, _, err = executeSplit(t, append(args, "-o", "json")...)
	require.NoError(t, err)
	var res struct {
		ResultType string         `json:"resultType"`
		Result     loghttp.Matrix `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Equal(t, "matrix", res.ResultType)
	n := 0
	for _, s := range res.Result {
		for _, p := range s.Values {
			require.Equal(t, want[p.Timestamp.Time().UTC().Format(time.RFC3339)+" "+string(s.Metric["user"])], float64(p.Value))
			n++
		}
	}
	require.Equal(t, len(want), n)

	out, errOut, err = executeSplit(t, append(args, "-o", "table")...)
	require.NoError(t, err)
	require.Regexp(t, `^TIME\s+USER\s+VALUE\n`, out)
	require.Len(t, lines(out), len(want)+1)
	require.Contains(t, errOut, "objects scanned")

	at := audittest.T0.Add(100 * time.Minute)
	out, _, err = executeSplit(t, "archive", "query", q, "--data-dir", dataDir, "--to", at.Format(time.RFC3339), "-o", "csv")
	require.NoError(t, err)
	rows, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	inst := map[string]float64{}
	for _, r := range rows[1:] {
		require.Equal(t, at.Format(time.RFC3339), r[0], "an instant query is evaluated at --to")
		inst[r[1]], _ = strconv.ParseFloat(r[2], 64)
	}
	require.Equal(t, secretGets(events, at.Add(-time.Hour), at), inst)
}

func TestArchiveMetricQueryBadInput(t *testing.T) {
	dataDir, _ := newDataDir(t)
	const q = `count_over_time({cluster="prod-eu"}[1h])`
	tests := []struct {
		args []string
		want string
	}{
		{[]string{q, "-o", "jsonl"}, `--output: "jsonl" is not one of [table csv json] for a metric query`},
		{[]string{q, "--step", "1h"}, "--from: a range metric query (--step) needs a start"},
		{[]string{q, "--from", "2026-11-22"}, "--from: without --step a metric query is evaluated once, at --to"},
		{[]string{`{cluster="a"}`, "--step", "1h"}, "--step: only for metric queries"},
		{[]string{q, "--from", "2026-11-01", "--to", "2026-12-01", "--step", "1m"}, "the query exceeds the maximum of 11000 points per series (--max-points)"},
		{[]string{`count_over_time({cluster="prod-eu"} | json [1h])`, "--to", "2026-11-22T12:00:00Z", "--max-series", "5"}, "the query exceeds the maximum of 5 series (--max-series)"},
		{[]string{`count_over_time({cluster="a"}[1h]`}, "parse error"},
		{[]string{`rate({cluster="a"} |~ "a{2000}" [1h])`}, "invalid repeat count"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			out, _, err := executeSplit(t, append([]string{"archive", "query", "--data-dir", dataDir}, tc.args...)...)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, 1, exitCode(err))
			require.Empty(t, out, "nothing is answered")
		})
	}
	_, _, err := executeSplit(t, "archive", "export", "--data-dir", dataDir, "--out", t.TempDir()+"/x", q)
	require.ErrorContains(t, err, "is a metric query", "export takes log queries only")
}
