package archivequeryreceiver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
)

// TestGrafanaEndpoints: index stats, volumes and detected labels count exactly the archived events
// of the selector and range; detected fields name the JSON fields of the lines.
func TestGrafanaEndpoints(t *testing.T) {
	f := start(t, nil, nil)
	from, to := audittest.T0.Add(20*time.Minute), audittest.T0.Add(80*time.Minute)
	rng := func(kv ...string) url.Values {
		v := url.Values{"start": {from.Format(time.RFC3339)}, "end": {to.Format(time.RFC3339)}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	type key struct{ cluster, user, verb, ns, resource string }
	streams := map[key]bool{}
	var entries, bytes int64
	byUser := map[string]float64{}
	users, verbs := map[string]bool{}, map[string]bool{}
	objects := map[int]bool{} // the archive holds each cluster's events in objects of 40
	for i, e := range f.events {
		if e.Cluster != "eu" || e.StageTime.Before(from) || !e.StageTime.Before(to) {
			continue
		}
		line, _ := json.Marshal(e)
		streams[key{e.Cluster, e.User.Username, e.Verb, e.ObjectRef.Namespace, e.ObjectRef.Resource}] = true
		entries++
		objects[i/40] = true
		bytes += int64(len(line))
		byUser[e.User.Username] += float64(len(line))
		users[e.User.Username], verbs[e.Verb] = true, true
	}

	code, body := f.get(t, "/loki/api/v1/index/stats", rng("query", `{cluster="eu"}`), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var st struct{ Streams, Chunks, Entries, Bytes int64 }
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, int64(len(streams)), st.Streams)
	require.Equal(t, entries, st.Entries)
	require.Equal(t, bytes, st.Bytes)
	require.Equal(t, int64(len(objects)), st.Chunks, "the archive objects holding matching events")

	code, body = f.get(t, "/loki/api/v1/index/volume", rng("query", `{cluster="eu"}`, "targetLabels", "user"), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var resp loghttp.QueryResponse
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	got := map[string]float64{}
	prev := -1.0
	for _, s := range resp.Data.Result.(loghttp.Vector) {
		got[string(s.Metric["user"])] = float64(s.Value)
		require.Equal(t, to.Unix(), s.Timestamp.Unix(), "stamped with the end")
		require.True(t, prev < 0 || float64(s.Value) <= prev, "largest first")
		prev = float64(s.Value)
	}
	require.Equal(t, byUser, got)

	code, body = f.get(t, "/loki/api/v1/index/volume_range", rng("query", `{cluster="eu"}`, "step", "10m"), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	resp = loghttp.QueryResponse{}
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	m := resp.Data.Result.(loghttp.Matrix)
	require.Len(t, m, 1)
	require.Equal(t, `{cluster="eu"}`, m[0].Metric.String())
	require.Len(t, m[0].Values, 6, "six buckets of 10 min")
	var sum float64
	for i, p := range m[0].Values {
		want := from.Add(time.Duration(i+1)*10*time.Minute - time.Millisecond)
		if i == len(m[0].Values)-1 {
			want = to
		}
		require.Equal(t, want.UnixMilli(), int64(p.Timestamp), "stamped with the bucket's last millisecond, the last with the end")
		sum += float64(p.Value)
	}
	require.Equal(t, float64(bytes), sum)

	code, body = f.get(t, "/loki/api/v1/detected_labels", rng("query", `{cluster="eu"}`), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var dl struct {
		DetectedLabels []struct {
			Label       string
			Cardinality int
		}
	}
	require.NoError(t, json.Unmarshal(body, &dl))
	card := map[string]int{}
	for _, l := range dl.DetectedLabels {
		card[l.Label] = l.Cardinality
	}
	require.Equal(t, len(users), card["user"])
	require.Equal(t, len(verbs), card["verb"])
	require.Equal(t, 1, card["cluster"])

	code, body = f.get(t, "/loki/api/v1/detected_fields", rng("query", `{cluster="eu"}`), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var df struct {
		Fields []struct {
			Label, Type string
			Cardinality int
			Parsers     []string
			JSONPath    []string `json:"jsonPath"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &df))
	fields := map[string]string{}
	for _, f := range df.Fields {
		fields[f.Label] = f.Type
		if f.Label == "responseStatus_code" {
			require.Equal(t, []string{"responseStatus", "code"}, f.JSONPath)
			require.Equal(t, []string{"json"}, f.Parsers)
			require.Equal(t, 4, f.Cardinality)
		}
	}
	require.Equal(t, "int", fields["responseStatus_code"])
	require.Equal(t, "string", fields["user_username"])

	for _, p := range []string{"/loki/api/v1/index/stats", "/loki/api/v1/index/volume", "/loki/api/v1/detected_labels"} {
		code, body = f.get(t, p, rng("query", `{cluster="eu"`), readerToken)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", p, body)
	}
	code, _ = f.get(t, "/loki/api/v1/index/stats", rng("query", `{cluster="eu"}`), "")
	require.Equal(t, http.StatusUnauthorized, code)
}
