package opensearchexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestBulkBodyGoesBackWhenSenderAndEveryReaderAreDone(t *testing.T) {
	p := &bodyPool{max: 1 << 20}
	b := p.get(16)
	b.b = append(b.b, "hello, bulk"...)
	r1, err := b.reader()
	require.NoError(t, err)
	r2, err := b.reader() // a retry's (GetBody)
	require.NoError(t, err)
	b.release() // the answer came, the client still holds readers
	require.NotNil(t, b.b, "kept while readers are open")

	got, err := io.ReadAll(r1)
	require.NoError(t, err)
	require.Equal(t, "hello, bulk", string(got))
	require.NoError(t, r1.Close())
	require.NoError(t, r1.Close(), "closing twice counts once")
	require.NotNil(t, b.b, "kept while a reader is open")
	half := make([]byte, 5)
	n, err := r2.Read(half)
	require.NoError(t, err)
	require.Equal(t, "hello", string(half[:n]))
	require.NoError(t, r2.Close())
	require.Nil(t, b.b, "back to the pool")

	_, err = r2.Read(half)
	require.ErrorIs(t, err, errBodyClosed, "a closed reader does not read the buffer")
	_, err = b.reader()
	require.ErrorIs(t, err, errBodyReleased)

	// Without readers, release gives the buffer back at once; the zero pool keeps nothing.
	var zero bodyPool
	b = zero.get(8)
	b.release()
	require.Nil(t, b.b)
}

// lateTransport reads and closes bulk bodies after it answered, as net/http.RoundTripper
// allows: a body larger than limit is answered 413 after half of it was read (the rest is read
// later, as when a server answers before the body was written), any other is read to its end
// and closed later. Each bulk body must still hold the documents of want.
type lateTransport struct {
	t     *testing.T
	limit int64
	want  map[string]string // _id -> document
	wg    sync.WaitGroup
}

func (lt *lateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	answer := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}
	}
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return answer(http.StatusOK, `{"acknowledged":true}`), nil
	}
	first := make([]byte, r.ContentLength/2)
	if _, err := io.ReadFull(r.Body, first); err != nil {
		return nil, err
	}
	rest := func() []byte {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			lt.t.Errorf("cannot read the rest of a bulk body: %v", err)
		}
		return b
	}
	var status int
	var body []byte
	if r.ContentLength > lt.limit {
		status = http.StatusRequestEntityTooLarge
	} else {
		status, body = http.StatusOK, append(first, rest()...)
	}
	lt.wg.Add(1)
	go func() {
		defer lt.wg.Done()
		time.Sleep(time.Millisecond)
		if body == nil {
			body = append(first, rest()...)
		}
		_ = r.Body.Close()
		lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			var action struct {
				Index struct {
					ID string `json:"_id"`
				} `json:"index"`
			}
			if err := json.Unmarshal([]byte(lines[i]), &action); err != nil || lt.want[action.Index.ID] != lines[i+1] {
				lt.t.Errorf("bulk line %d changed after the answer: %.80q", i, lines[i])
				return
			}
		}
	}()
	if status != http.StatusOK {
		return answer(status, ""), nil
	}
	n := strings.Count(string(body), "\n") / 2
	return answer(status, `{"took":1,"errors":false,"items":[`+strings.TrimSuffix(strings.Repeat(`{"index":{"status":201}},`, n), ",")+`]}`), nil
}

// Bulk bodies are reused while the HTTP client may still read them, or close them, after it
// answered: a buffer given back too early is a data race under -race, and changed bytes in what
// the transport reads late.
func TestBulkBodiesReusedWhileTheClientReadsLate(t *testing.T) {
	const limit = 32 << 10
	cfg := testConfig(t, "http://127.0.0.1:1")
	cfg.MaxBulkBytes = 4 * limit // bulks answered 413 and split in halves until they fit
	e := startExporter(t, cfg)
	lt := &lateTransport{t: t, limit: limit, want: map[string]string{}}
	require.NoError(t, e.client.Close())
	var err error
	e.client, err = opensearch.NewClient(opensearch.Config{Addresses: cfg.Endpoints, Transport: lt, DisableRetry: true})
	require.NoError(t, err)

	var pushes [][]item
	for p := range 24 {
		ids := make([]string, 24)
		for i := range ids {
			ids[i] = fmt.Sprintf("p%d-%d-%s", p, i, strings.Repeat("x", (p*977+i*4099)%5000))
		}
		items := itemsOfLogs(t, e, auditLogs(ids...))
		for _, it := range items {
			lt.want[it.id] = string(it.doc)
		}
		pushes = append(pushes, items)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(pushes))
	for _, items := range pushes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.pushItems(context.Background(), items)
		}()
	}
	wg.Wait()
	lt.wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func itemsOfLogs(t *testing.T, e *osExporter, ld plog.Logs) []item {
	t.Helper()
	req, err := e.toDocs(context.Background(), ld)
	require.NoError(t, err)
	return itemsOf(t, req)
}
