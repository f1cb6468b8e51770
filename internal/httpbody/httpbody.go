// Package httpbody reads HTTP request bodies whole, sized from their Content-Length.
package httpbody

import (
	"io"
	"sync"
)

// DefaultLimit bounds the first allocation when the caller knows no limit.
const DefaultLimit = 64 << 20

// Read reads r whole, into a buffer sized from the request's Content-Length (bounded by limit,
// the largest body accepted; DefaultLimit when limit ≤ 0) rather than grown from 512 bytes as
// io.ReadAll does: one allocation and one copy for a body whose length is announced.
func Read(r io.Reader, contentLength, limit int64) ([]byte, error) {
	return ReadInto(nil, r, contentLength, limit)
}

// ReadInto is Read into the memory of buf (from buf[:0]) when it has room for what Read would
// allocate first, for callers that reuse buffers; otherwise it allocates as Read does.
func ReadInto(buf []byte, r io.Reader, contentLength, limit int64) ([]byte, error) {
	size := int64(512)
	if contentLength > 0 {
		size = contentLength + 1 // + 1: room to see EOF without growing
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if want := min(size, limit+1); int64(cap(buf)) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// buffers are ReadPooled's buffers (*[]byte).
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// ReadPooled is Read into a buffer taken from a pool shared by its callers. release gives the
// buffer back: call it once nothing refers to the body any more (the caller copied what it keeps).
func ReadPooled(r io.Reader, contentLength, limit int64) (body []byte, release func(), err error) {
	bufp := buffers.Get().(*[]byte)
	body, err = ReadInto(*bufp, r, contentLength, limit)
	return body, func() {
		*bufp = body[:0]
		buffers.Put(bufp)
	}, err
}
