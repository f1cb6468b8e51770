// Package httpbody reads HTTP request bodies whole, sized from their Content-Length.
package httpbody

import (
	"io"
	"net/http"
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
	return readInto(buf, r, contentLength, limit, nil)
}

// Reserve is called by ReadPooledReserved before the body it reads holds capacity bytes (at
// first, and before each time the buffer grows; never more than the limit + 1); an error stops
// the read and is returned. With a Reserve, a body over the limit is an *http.MaxBytesError.
type Reserve func(capacity int64) error

func readInto(buf []byte, r io.Reader, contentLength, limit int64, reserve Reserve) ([]byte, error) {
	size := int64(512)
	if contentLength > 0 {
		size = contentLength + 1 // + 1: room to see EOF without growing
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	want := min(size, limit+1)
	if reserve != nil {
		if err := reserve(want); err != nil {
			return buf[:0], err // the caller's buffer, for the pool
		}
	}
	if int64(cap(buf)) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	reserved := want // with reserve: the body is read no further than this
	for {
		end := cap(buf)
		if reserve != nil {
			if int64(len(buf)) == reserved {
				// Doubled up to the limit, and reserved before it is held (a pooled buffer may
				// have the room).
				next := min(2*reserved, limit+1)
				if next == reserved {
					return buf, &http.MaxBytesError{Limit: limit}
				}
				if err := reserve(next); err != nil {
					return buf, err
				}
				reserved = next
			}
			if int64(cap(buf)) < reserved && len(buf) == cap(buf) {
				grown := make([]byte, len(buf), reserved)
				copy(grown, buf)
				buf = grown
			}
			end = int(min(int64(cap(buf)), reserved))
		} else if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
			end = cap(buf)
		}
		n, err := r.Read(buf[len(buf):end])
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
	return ReadPooledReserved(r, contentLength, limit, nil)
}

// ReadPooledReserved is ReadPooled that calls reserve before the body holds more memory, so
// that the caller can bound the memory of the bodies read at once: a reserve error stops the
// read and is returned (release must still be called).
func ReadPooledReserved(r io.Reader, contentLength, limit int64, reserve Reserve) (body []byte, release func(), err error) {
	bufp := buffers.Get().(*[]byte)
	body, err = readInto(*bufp, r, contentLength, limit, reserve)
	return body, func() {
		*bufp = body[:0]
		buffers.Put(bufp)
	}, err
}
