package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	"golang.org/x/sys/unix"
)

// records are the records of one commit, laid out for a vectored write (pwritev) instead of
// being copied into one buffer: the headers, keys, length prefixes and values shorter than
// copyBelow are copied into meta, and longer values are written from the callers' slices. The
// bytes written are those of the format in record.go, the same as copying everything would give;
// the CRC of each record is computed over its pieces in order.
//
// Only the commit loop uses it. The values are read by writeAt, so they must not change until
// the batch is durable (see Enqueue).
type records struct {
	meta []byte
	// values are the values written from the callers' slices, each with the position in meta
	// it follows.
	values     []valueAt
	valueBytes int   // the bytes of values
	offsets    []int // per op added, the offset of its value from the start of the records
	iovs       [][]byte
}

type valueAt struct {
	metaEnd int
	value   []byte
}

// copyBelow is the size below which a value is copied into meta: each iovec costs the kernel
// about as much as copying a few KiB. BenchmarkCopyBelow, on Linux 6.18 in a 2-vCPU VM: values
// of 1–2 KiB took a quarter to a third longer to write from their own slices than copied into
// one buffer, 4–8 KiB as long, 16 KiB 10% and 64 KiB 40% less (the copy no longer fits the cache).
const copyBelow = 8 << 10

// maxIovecs is the most iovecs one pwritev takes (IOV_MAX on Linux).
const maxIovecs = 1024

// keepMetaBytes bounds the meta buffer kept from one commit to the next (a larger one is
// dropped after its commit).
const keepMetaBytes = 4 << 20

// reset empties r and drops its references to the values written.
func (r *records) reset() {
	if cap(r.meta) > keepMetaBytes {
		r.meta = nil
	}
	r.meta = r.meta[:0]
	clear(r.values)
	r.values = r.values[:0]
	clear(r.iovs)
	r.iovs = r.iovs[:0]
	r.valueBytes = 0
	r.offsets = r.offsets[:0]
}

// size is the number of bytes of the records added.
func (r *records) size() int { return len(r.meta) + r.valueBytes }

// add appends the record of ops, and the offsets of their values to r.offsets.
func (r *records) add(ops []Op) {
	start := len(r.meta)
	recStart := r.size()
	r.meta = append(r.meta, make([]byte, headerSize)...)
	crc, crcFrom := uint32(0), len(r.meta) // crcFrom: the start of the bytes of meta not in crc yet
	r.meta = binary.AppendUvarint(r.meta, uint64(len(ops)))
	for _, op := range ops {
		if op.Delete {
			r.meta = append(r.meta, opDelete)
			r.meta = binary.AppendUvarint(r.meta, uint64(len(op.Key)))
			r.meta = append(r.meta, op.Key...)
			r.offsets = append(r.offsets, 0)
			continue
		}
		r.meta = append(r.meta, opSet)
		r.meta = binary.AppendUvarint(r.meta, uint64(len(op.Key)))
		r.meta = append(r.meta, op.Key...)
		r.meta = binary.AppendUvarint(r.meta, uint64(len(op.Value)))
		r.offsets = append(r.offsets, r.size())
		if len(op.Value) < copyBelow {
			r.meta = append(r.meta, op.Value...)
			continue
		}
		crc = crc32.Update(crc, castagnoli, r.meta[crcFrom:])
		crc = crc32.Update(crc, castagnoli, op.Value)
		crcFrom = len(r.meta)
		r.values = append(r.values, valueAt{metaEnd: len(r.meta), value: op.Value})
		r.valueBytes += len(op.Value)
	}
	crc = crc32.Update(crc, castagnoli, r.meta[crcFrom:])
	binary.LittleEndian.PutUint32(r.meta[start:], uint32(r.size()-recStart-headerSize))
	binary.LittleEndian.PutUint32(r.meta[start+4:], crc)
}

// pieces are the records' bytes in order, none of them empty.
func (r *records) pieces() [][]byte {
	r.iovs = r.iovs[:0]
	prev := 0
	for _, v := range r.values {
		if v.metaEnd > prev {
			r.iovs = append(r.iovs, r.meta[prev:v.metaEnd])
		}
		r.iovs = append(r.iovs, v.value)
		prev = v.metaEnd
	}
	if len(r.meta) > prev {
		r.iovs = append(r.iovs, r.meta[prev:])
	}
	return r.iovs
}

// pwritevFunc is unix.Pwritev, or a test's stand-in.
type pwritevFunc func(iovs [][]byte, off int64) (int, error)

// writeAt writes the records at off with pwritev calls of at most maxIovecs pieces each, going
// on after a short write.
func (r *records) writeAt(pwritev pwritevFunc, off int64) error {
	iovs := r.pieces()
	for len(iovs) > 0 {
		n, err := pwritev(iovs[:min(len(iovs), maxIovecs)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return io.ErrShortWrite
		}
		off += int64(n)
		for n > 0 {
			if n < len(iovs[0]) {
				iovs[0] = iovs[0][n:]
				break
			}
			n -= len(iovs[0])
			iovs = iovs[1:]
		}
	}
	return nil
}

// pwritevFile is pwritev on the descriptor fd.
func pwritevFile(fd int) pwritevFunc {
	return func(iovs [][]byte, off int64) (int, error) {
		n, err := unix.Pwritev(fd, iovs, off)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
