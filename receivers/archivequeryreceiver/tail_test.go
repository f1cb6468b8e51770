package archivequeryreceiver

import (
	"context"
	"encoding/json"
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
	"github.com/vigil-obs/vigil/storage/archive"
)

// TestTail: a live tail gets, as Loki's tail frames, the matching events archived since start,
// then those of each object archived while it runs; it is audited; bad queries get 400.
func TestTail(t *testing.T) {
	old := tailPoll
	tailPoll = 50 * time.Millisecond
	t.Cleanup(func() { tailPoll = old })
	f := start(t, nil, nil)
	const q = `{cluster="eu", user="alice"}`
	params := url.Values{"query": {q}, "start": {audittest.T0.Add(-time.Hour).Format(time.RFC3339Nano)}, "limit": {"7"}}
	wsURL := strings.Replace(f.url, "http://", "ws://", 1) + "/loki/api/v1/tail?" + params.Encode()

	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	bad := strings.Replace(wsURL, url.QueryEscape(q), url.QueryEscape(`{cluster="eu"`), 1)
	_, resp, err = websocket.DefaultDialer.Dial(bad, http.Header{"Authorization": {"Bearer " + readerToken}})
	require.Error(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + readerToken}})
	require.NoError(t, err)
	defer conn.Close()
	var got []string
	read := func(n int) {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		for len(got) < n {
			var frame loghttp.TailResponse
			require.NoError(t, conn.ReadJSON(&frame))
			entries := 0
			for _, s := range frame.Streams {
				require.Equal(t, "alice", s.Labels["user"])
				for _, e := range s.Entries {
					got = append(got, e.Line)
					entries++
				}
			}
			require.LessOrEqual(t, entries, 7, "at most limit entries per frame")
		}
	}
	var want []string
	for _, e := range f.events {
		if e.Cluster == "eu" && e.User.Username == "alice" {
			line, _ := json.Marshal(e)
			want = append(want, string(line))
		}
	}
	read(len(want))
	require.Equal(t, want, got, "the archived events since start, oldest first")

	// A new object is archived: its matching events follow.
	stream := archive.Stream{Tenant: "default", Cluster: "eu"}
	entries, err := archive.Manifest(context.Background(), f.engine.Bucket, stream)
	require.NoError(t, err)
	last := entries[len(entries)-1]
	more := audittest.EventsAt(audittest.T0.Add(5*time.Hour), []string{"eu"}, 12)
	lines := make([][]byte, len(more))
	for i, e := range more {
		lines[i], _ = json.Marshal(e)
		if e.User.Username == "alice" {
			want = append(want, string(lines[i]))
		}
	}
	_, err = archive.Append(context.Background(), f.engine.Bucket, stream, &last, more[0].StageTime, more[len(more)-1].StageTime, lines)
	require.NoError(t, err)
	read(len(want))
	require.Equal(t, want, got)
	require.NoError(t, conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)))

	var recorded []string
	for _, ld := range f.sink.AllLogs() {
		recorded = append(recorded, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	}
	sort.Strings(recorded)
	require.Len(t, recorded, 2, "the bad and the good tail are audited; the unauthenticated one is not")
	require.Contains(t, strings.Join(recorded, "\n"), `"name":"tail"`)
}
