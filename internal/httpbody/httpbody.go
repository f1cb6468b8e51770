// Package httpbody reads HTTP request bodies whole, sized from their Content-Length.
package httpbody

import "io"

// DefaultLimit bounds the first allocation when the caller knows no limit.
const DefaultLimit = 64 << 20

// Read reads r whole, into a buffer sized from the request's Content-Length (bounded by limit,
// the largest body accepted; DefaultLimit when limit ≤ 0) rather than grown from 512 bytes as
// io.ReadAll does: one allocation and one copy for a body whose length is announced.
func Read(r io.Reader, contentLength, limit int64) ([]byte, error) {
	size := int64(512)
	if contentLength > 0 {
		size = contentLength + 1 // + 1: room to see EOF without growing
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	buf := make([]byte, 0, min(size, limit+1))
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
