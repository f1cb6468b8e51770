package k8sauditreceiver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// tinyItems is an EventList of n items of 34 bytes (with their comma): the shape of issue #20.4,
// where 1.95M of them (63 MiB, under the 64 MiB body limit) took gigabytes. head is the list's
// opening up to "items":[.
func tinyItems(head string, n int) []byte {
	b := make([]byte, 0, len(head)+34*n+2)
	b = append(b, head...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"auditID":"`...)
		for d := 1_000_000; d > 0; d /= 10 { // seven digits
			b = append(b, byte('0'+i/d%10))
		}
		b = append(b, `","stage":"S"}`...)
	}
	return append(b, "]}"...)
}

const (
	fastHead = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`
	// slowHead sends the body to encoding/json: a key of the list with an escape.
	slowHead = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","m\u0065tadata":{},"items":[`
)

// serveMeasured answers one request with the receiver's handler and returns the status, the
// answer and the bytes allocated meanwhile (runtime.MemStats.TotalAlloc: every allocation counts,
// freed or not).
func serveMeasured(t *testing.T, cfg *Config, next consumer.Logs, body []byte) (int, string, uint64) {
	t.Helper()
	r, err := newReceiver(receivertest.NewNopSettings(Type), cfg, next)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, cfg.Path, bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	w := httptest.NewRecorder()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	return w.Code, w.Body.String(), after.TotalAlloc - before.TotalAlloc
}

// TestRequestMemoryIsBounded: a request allocates no more than requestCost — 3 bytes per byte
// of body and eventCost per item, of which it reads at most max_events_per_request — whatever
// the shape of its list, on either decoding path. The list of 1.95M tiny items (63 MiB) is
// refused with 413 once it has read max_events_per_request items: before that limit it was
// accepted, allocating 110× its body on the fast path (7.6 GB) and 69× on encoding/json's.
func TestRequestMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 62 MB body")
	}
	n := 1_950_000
	if raceEnabled {
		n = 400_000 // the same items, a 13.6 MB body: -race takes 100 s over the whole
	}
	for _, head := range []string{fastHead, slowHead} {
		name := map[string]string{fastHead: "fast", slowHead: "encoding_json"}[head]
		t.Run(name+"/62MB_of_tiny_items", func(t *testing.T) {
			body := tinyItems(head, n)
			require.Less(t, len(body), 64<<20, "under the body limit")
			code, answer, alloc := serveMeasured(t, localConfig(), consumertest.NewNop(), body)
			t.Logf("%d bytes, %d items: %d, allocated %d bytes (%.1f× the body)", len(body), n, code, alloc, float64(alloc)/float64(len(body)))
			require.Equal(t, http.StatusRequestEntityTooLarge, code, answer)
			require.Contains(t, answer, "max_events_per_request")
			require.Contains(t, answer, "10000")
			require.LessOrEqual(t, alloc, uint64(requestCost(len(body), localConfig().MaxEventsPerRequest)))
			if !raceEnabled {
				require.LessOrEqual(t, alloc, uint64(4*len(body)), "allocated %.1f× the body", float64(alloc)/float64(len(body)))
			}
		})
		t.Run(name+"/at_the_item_limit", func(t *testing.T) {
			cfg := localConfig()
			body := tinyItems(head, cfg.MaxEventsPerRequest)
			code, answer, alloc := serveMeasured(t, cfg, consumertest.NewNop(), body)
			t.Logf("%d bytes, %d items: %d, allocated %d bytes (%.1f× the body, %d per item)", len(body), cfg.MaxEventsPerRequest,
				code, alloc, float64(alloc)/float64(len(body)), alloc/uint64(cfg.MaxEventsPerRequest))
			require.Equal(t, http.StatusOK, code, answer)
			require.LessOrEqual(t, alloc, uint64(requestCost(len(body), cfg.MaxEventsPerRequest)))
		})
	}
	t.Run("realistic_batch", func(t *testing.T) {
		body := benchBatch()
		code, answer, alloc := serveMeasured(t, localConfig(), consumertest.NewNop(), body)
		t.Logf("%d bytes, 400 items: %d, allocated %d bytes (%.1f× the body)", len(body), code, alloc, float64(alloc)/float64(len(body)))
		require.Equal(t, http.StatusOK, code, answer)
		require.LessOrEqual(t, alloc, uint64(requestCost(len(body), 400)))
	})
}
