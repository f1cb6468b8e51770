package opensearchexporter

import (
	"errors"
	"io"
	"sync"
)

// bodyPool keeps the buffers of bulk request bodies for the next requests. The zero value is
// ready and pools nothing; buffers larger than max are left to the garbage collector.
type bodyPool struct {
	pool sync.Pool // of *[]byte
	max  int
}

// get returns an empty body whose buffer holds at least size bytes.
func (p *bodyPool) get(size int) *bulkBody {
	if b, ok := p.pool.Get().(*[]byte); ok && cap(*b) >= size {
		return &bulkBody{pool: p, b: (*b)[:0], refs: 1}
	}
	return &bulkBody{pool: p, b: make([]byte, 0, size), refs: 1}
}

// bulkBody is the body of one bulk request, in a buffer of the pool. The sender appends to b,
// hands readers of it to the HTTP client, and calls release when it has the answer. The client
// may still read the body, and close it, after it returned the answer (net/http.RoundTripper:
// RoundTrip may close the body in another goroutine after it returned), so the buffer goes
// back to the pool only once the sender released it and every reader was closed; a reader that
// is never closed keeps it out of the pool for good. Readers and release are safe for concurrent
// use; a closed reader never touches the buffer again.
type bulkBody struct {
	pool *bodyPool
	b    []byte // written by the sender before the first reader, read-only after

	mu   sync.Mutex
	refs int // the sender's until release, and one per reader not closed
}

var errBodyReleased = errors.New("bulk request body already sent and released")

// reader returns a new reader of the body, for the request or a retry of it (http.Request's
// Body and GetBody); an error after release.
func (b *bulkBody) reader() (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refs == 0 {
		return nil, errBodyReleased
	}
	b.refs++
	return &bodyReader{body: b}, nil
}

// release ends the sender's use of the body.
func (b *bulkBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unref()
}

// unref drops one reference; the last one gives the buffer back. Under b.mu.
func (b *bulkBody) unref() {
	b.refs--
	if b.refs > 0 {
		return
	}
	if cap(b.b) <= b.pool.max {
		buf := b.b[:0]
		b.pool.pool.Put(&buf)
	}
	b.b = nil
}

type bodyReader struct {
	body   *bulkBody
	off    int
	closed bool
}

var errBodyClosed = errors.New("read of a closed bulk request body")

func (r *bodyReader) Read(p []byte) (int, error) {
	r.body.mu.Lock()
	defer r.body.mu.Unlock()
	if r.closed {
		return 0, errBodyClosed
	}
	if r.off >= len(r.body.b) {
		return 0, io.EOF
	}
	n := copy(p, r.body.b[r.off:])
	r.off += n
	return n, nil
}

func (r *bodyReader) Close() error {
	r.body.mu.Lock()
	defer r.body.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.body.unref()
	}
	return nil
}
