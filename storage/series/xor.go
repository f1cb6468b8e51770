package series

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// xorHead appends samples to a chunk in Prometheus's XOR encoding, writing exactly the bytes that
// tsdb/chunkenc's XOR appender writes (xor_test.go checks it), so that chunkenc's iterator reads
// them. It exists so that the appender's state lives inside memSeries instead of in a separate
// allocation behind an interface, which saves 64 bytes and a cache miss per series.
//
// The chunk is a 2-byte big-endian sample count followed by a bit stream: the first sample's
// timestamp (varint) and value (64 bits); the second's timestamp delta (uvarint) and value XOR;
// then each timestamp as a delta of deltas in a variable-width code and each value as the XOR
// with the previous value (Gorilla encoding).
type xorHead struct {
	b        []byte // the chunk
	tDelta   uint64
	free     uint8 // bits not yet written in the last byte of b
	leading  uint8
	trailing uint8
}

// reset makes the head an empty chunk in buf (reused when it has room).
func (h *xorHead) reset(buf []byte) {
	if cap(buf) < 2 {
		buf = make([]byte, 2, 16)
	}
	buf = buf[:2]
	buf[0], buf[1] = 0, 0
	*h = xorHead{b: buf, leading: 0xff}
}

func (h *xorHead) samples() int { return int(binary.BigEndian.Uint16(h.b)) }

// append adds a sample after (prevT, prevV), the previous sample of the chunk (ignored when the
// chunk is empty). The caller cuts the chunk before it holds math.MaxUint16 samples.
func (h *xorHead) append(t int64, v float64, prevT int64, prevV float64) {
	num := binary.BigEndian.Uint16(h.b)
	var tDelta uint64
	switch num {
	case 0:
		var buf [binary.MaxVarintLen64]byte
		for _, c := range buf[:binary.PutVarint(buf[:], t)] {
			h.writeByte(c) // the stream is byte-aligned here
		}
		h.writeBits(math.Float64bits(v), 64)
	case 1:
		tDelta = uint64(t - prevT)
		var buf [binary.MaxVarintLen64]byte
		for _, c := range buf[:binary.PutUvarint(buf[:], tDelta)] {
			h.writeByte(c)
		}
		h.writeVDelta(v, prevV)
	default:
		tDelta = uint64(t - prevT)
		dod := int64(tDelta - h.tDelta)
		switch {
		case dod == 0:
			h.writeBit(false)
		case bitRange(dod, 14):
			h.writeByte(0b10<<6 | (uint8(dod>>8) & (1<<6 - 1)))
			h.writeByte(uint8(dod))
		case bitRange(dod, 17):
			h.writeBits(0b110, 3)
			h.writeBits(uint64(dod), 17)
		case bitRange(dod, 20):
			h.writeBits(0b1110, 4)
			h.writeBits(uint64(dod), 20)
		default:
			h.writeBits(0b1111, 4)
			h.writeBits(uint64(dod), 64)
		}
		h.writeVDelta(v, prevV)
	}
	binary.BigEndian.PutUint16(h.b, num+1)
	h.tDelta = tDelta
}

func bitRange(x int64, nbits uint8) bool {
	return -((1<<(nbits-1))-1) <= x && x <= 1<<(nbits-1)
}

func (h *xorHead) writeVDelta(v, prev float64) {
	delta := math.Float64bits(v) ^ math.Float64bits(prev)
	if delta == 0 {
		h.writeBit(false)
		return
	}
	h.writeBit(true)
	leading := uint8(bits.LeadingZeros64(delta))
	trailing := uint8(bits.TrailingZeros64(delta))
	if leading >= 32 {
		leading = 31
	}
	if h.leading != 0xff && leading >= h.leading && trailing >= h.trailing {
		h.writeBit(false)
		h.writeBits(delta>>h.trailing, 64-int(h.leading)-int(h.trailing))
		return
	}
	h.leading, h.trailing = leading, trailing
	h.writeBit(true)
	h.writeBits(uint64(leading), 5)
	sigbits := 64 - leading - trailing // 64 is written as 0 in 6 bits, and read back as 64
	h.writeBits(uint64(sigbits), 6)
	h.writeBits(delta>>trailing, int(sigbits))
}

// grow makes room for one more byte. The chunk grows by 16 bytes (an eighth when larger) rather
// than doubling: a head chunk is small and lives long, so slack costs more than copying.
func (h *xorHead) grow() {
	if len(h.b) < cap(h.b) {
		return
	}
	b := make([]byte, len(h.b), cap(h.b)+max(16, cap(h.b)/8))
	copy(b, h.b)
	h.b = b
}

func (h *xorHead) writeBit(bit bool) {
	if h.free == 0 {
		h.grow()
		h.b = append(h.b, 0)
		h.free = 8
	}
	if bit {
		h.b[len(h.b)-1] |= 1 << (h.free - 1)
	}
	h.free--
}

func (h *xorHead) writeByte(c byte) {
	h.grow()
	if h.free == 0 {
		h.b = append(h.b, c)
		return
	}
	h.b[len(h.b)-1] |= c >> (8 - h.free)
	h.b = append(h.b, c<<h.free)
}

// writeBits writes the nbits low bits of u, most significant first, up to a byte at a time.
func (h *xorHead) writeBits(u uint64, nbits int) {
	for nbits > 0 {
		if h.free == 0 {
			h.grow()
			h.b = append(h.b, 0)
			h.free = 8
		}
		n := min(nbits, int(h.free))
		nbits -= n
		h.b[len(h.b)-1] |= byte(u>>uint(nbits)&(1<<uint(n)-1)) << (h.free - uint8(n))
		h.free -= uint8(n)
	}
}
