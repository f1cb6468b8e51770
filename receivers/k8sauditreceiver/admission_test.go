package k8sauditreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// holding blocks ConsumeLogs until released: a request held in the pipeline, with its memory.
type holding struct {
	consumertest.LogsSink
	entered chan struct{}
	release chan struct{}
}

func (h *holding) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	h.entered <- struct{}{}
	<-h.release
	return h.LogsSink.ConsumeLogs(ctx, ld)
}

// bigList is an EventList of about size bytes: one event with a large requestObject.
func bigList(id string, size int) []byte {
	return listOf("audit.k8s.io/v1", `{"auditID":"`+id+`","stage":"ResponseComplete","verb":"create","requestObject":{"data":"`+
		strings.Repeat("x", size-150)+`"}}`)
}

// TestWebhookBoundsBytesInFlight: while a request holds its memory, another that would take
// the total over max_inflight_bytes is answered 429 with Retry-After, naming the limit and the
// setting; once the first is done, the retry is accepted.
func TestWebhookBoundsBytesInFlight(t *testing.T) {
	cfg := localConfig()
	cfg.MaxRequestBodySize, cfg.MaxEventBytes, cfg.MaxEventsPerRequest = 64<<10, 64<<10, 10
	cfg.MaxInflightBytes = requestCost(cfg.MaxRequestBodySize, cfg.MaxEventsPerRequest) // one request of the largest
	require.NoError(t, cfg.Validate())
	next := &holding{entered: make(chan struct{}), release: make(chan struct{})}
	url := startReceiver(t, cfg, next, nil)

	first := make(chan reply)
	go func() { first <- post(t, url, bigList("first", 60<<10), nil) }()
	<-next.entered

	r := post(t, url, bigList("second", 60<<10), nil)
	require.Equal(t, http.StatusTooManyRequests, r.code)
	require.Equal(t, "5", r.retryAfter)
	require.Contains(t, r.body.Error, fmt.Sprintf("of the limit of %d bytes (max_inflight_bytes)", cfg.MaxInflightBytes))

	close(next.release)
	require.Equal(t, http.StatusOK, (<-first).code)
	go func() { <-next.entered }()
	r = post(t, url, bigList("second", 60<<10), nil)
	require.Equal(t, http.StatusOK, r.code, "the memory of a request is given back when it is answered")
	require.Equal(t, 1, r.body.Accepted)
	require.Len(t, recordsOf(&next.LogsSink), 2)

	// Alone, a request of the largest body is taken, also when its length is not known before
	// it is read (gzip): what is reserved for it as it is read stops at max_request_body_size.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	third := bigList("third", 63<<10)
	third = append(third, bytes.Repeat([]byte(" "), 64<<10-len(third))...) // exactly max_request_body_size
	_, _ = zw.Write(third)
	require.NoError(t, zw.Close())
	go func() { <-next.entered }()
	r = post(t, url, gz.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	require.Equal(t, http.StatusOK, r.code, r.body.Error)
	require.Equal(t, 1, r.body.Accepted)
}

func TestTicket(t *testing.T) {
	f := &inflight{limit: 100}
	a, b := ticket{f: f}, ticket{f: f}
	require.NoError(t, a.grow(60))
	require.NoError(t, a.grow(40), "a ticket never shrinks")
	err := b.grow(50)
	require.EqualError(t, err, "cannot take the request now: the requests being handled hold 60 bytes of the limit of 100 bytes "+
		"(max_inflight_bytes) and this one needs 50 more; retry later, or raise max_inflight_bytes")
	require.NoError(t, b.grow(40))
	require.Equal(t, int64(100), f.held)
	a.done()
	a.done()
	require.Equal(t, int64(40), f.held, "done gives back once")
	require.NoError(t, b.grow(100))
	b.done()
	require.Zero(t, f.held)
}

// TestWebhookRefusesTooManyEvents: a list over max_events_per_request is refused whole with
// 413 naming the limit and the setting; nothing of it is stored.
func TestWebhookRefusesTooManyEvents(t *testing.T) {
	cfg := localConfig()
	cfg.MaxEventsPerRequest = 5
	sink := &consumertest.LogsSink{}
	url := startReceiver(t, cfg, sink, nil)
	r := post(t, url, readEventList(t), nil) // 7 events
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.Contains(t, r.body.Error, "more than 5 items, the limit (max_events_per_request)")
	require.Empty(t, sink.AllLogs())

	// Items that are not audit events are rejected alone, the rest kept.
	r = post(t, url, listOf("audit.k8s.io/v1", webhookItem,
		withKind("Pod", "v1", `{"auditID":"p","stage":"ResponseComplete","metadata":{"name":"web"}}`)), nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, 1, r.body.Accepted)
	require.Len(t, r.body.Rejected, 1)
	require.Equal(t, ReasonNotAuditEvent, r.body.Rejected[0].Reason)
	require.Contains(t, r.body.Rejected[0].Message, `kind "Pod"`)
}
