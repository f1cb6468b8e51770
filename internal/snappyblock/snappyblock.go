// Package snappyblock holds what the exporters that queue their requests already compressed (the
// remote-write and Loki push exporters) share: snappy blocks written into reused buffers, and the
// check of a queued block's claimed length before anything is allocated for it.
package snappyblock

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// MaxRatio bounds what a snappy block (as s2.EncodeSnappy writes it) decompresses to, per byte:
// its longest copy, 64 bytes, takes 3 (a 2-byte copy gives 11 at most).
const MaxRatio = 22

// DecodedLen is the length block decompresses to, as its header says; a header that claims more
// than a block of its size can hold is an error (a damaged block must not make its reader
// allocate). An empty block is 0.
func DecodedLen(block []byte) (int, error) {
	if len(block) == 0 {
		return 0, nil
	}
	n, err := s2.DecodedLen(block)
	if err != nil {
		return 0, err
	}
	if n > MaxRatio*len(block) {
		return 0, fmt.Errorf("%d bytes claimed by a snappy block of %d", n, len(block))
	}
	return n, nil
}

// Append appends raw as a snappy block (snappy's block format at s2's default speed) to dst,
// growing it as needed; nothing for an empty raw.
func Append(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return dst
	}
	start := len(dst)
	need := start + s2.MaxEncodedLen(len(raw))
	if cap(dst) < need {
		nb := make([]byte, start, 2*need)
		copy(nb, dst)
		dst = nb
	}
	block := s2.EncodeSnappy(dst[start:need], raw)
	return dst[:start+len(block)]
}

// MaxPooled bounds the buffers Buffers keeps for the next request.
const MaxPooled = 16 << 20

// Buffers is a pool of byte buffers reused from request to request.
type Buffers struct{ pool sync.Pool }

// Get returns an empty buffer.
func (b *Buffers) Get() *[]byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	return new([]byte)
}

// Put gives p back unless it grew over MaxPooled.
func (b *Buffers) Put(p *[]byte) {
	if cap(*p) <= MaxPooled {
		b.pool.Put(p)
	}
}
