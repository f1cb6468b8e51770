package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A batch record on disk:
//
//	uint32 length of the payload (little endian)
//	uint32 CRC-32C of the payload
//	payload: uvarint op count, then per op: byte type (1 set, 2 delete), uvarint key length,
//	key, and for a set uvarint value length and value.
const headerSize = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Op is one change of a batch.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

const (
	opSet    = 1
	opDelete = 2
)

var errCorrupt = errors.New("corrupt record")

// decodedOp is an op read back from disk; valueOff is relative to the start of the record.
type decodedOp struct {
	key      string
	delete   bool
	valueOff int
	valueLen int
}

// decodeBatch parses one record at the start of b. It returns the ops and the record's size, or
// errCorrupt for a torn or damaged record.
func decodeBatch(b []byte) ([]decodedOp, int, error) {
	if len(b) < headerSize {
		return nil, 0, errCorrupt
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b)-headerSize {
		return nil, 0, errCorrupt
	}
	payload := b[headerSize : headerSize+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errCorrupt
	}
	p := 0
	count, k := binary.Uvarint(payload)
	if k <= 0 || count > uint64(n) {
		return nil, 0, errCorrupt
	}
	p += k
	ops := make([]decodedOp, 0, count)
	for range count {
		if p >= n {
			return nil, 0, errCorrupt
		}
		typ := payload[p]
		p++
		klen, k := binary.Uvarint(payload[p:])
		if k <= 0 || klen > uint64(n-p-k) {
			return nil, 0, errCorrupt
		}
		p += k
		op := decodedOp{key: string(payload[p : p+int(klen)])}
		p += int(klen)
		switch typ {
		case opDelete:
			op.delete = true
		case opSet:
			vlen, k := binary.Uvarint(payload[p:])
			if k <= 0 || vlen > uint64(n-p-k) {
				return nil, 0, errCorrupt
			}
			p += k
			op.valueOff, op.valueLen = headerSize+p, int(vlen)
			p += int(vlen)
		default:
			return nil, 0, errCorrupt
		}
		ops = append(ops, op)
	}
	if p != n {
		return nil, 0, errCorrupt
	}
	return ops, headerSize + n, nil
}
