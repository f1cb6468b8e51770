package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// encodeBatch is the format of record.go written the plain way, everything copied into one
// buffer (how the log wrote until it wrote values without a copy): the reference the records of
// a commit must equal byte for byte. It appends the record of ops to buf.
func encodeBatch(buf []byte, ops []Op) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = binary.AppendUvarint(buf, uint64(len(ops)))
	for _, op := range ops {
		if op.Delete {
			buf = append(buf, opDelete)
			buf = binary.AppendUvarint(buf, uint64(len(op.Key)))
			buf = append(buf, op.Key...)
			continue
		}
		buf = append(buf, opSet)
		buf = binary.AppendUvarint(buf, uint64(len(op.Key)))
		buf = append(buf, op.Key...)
		buf = binary.AppendUvarint(buf, uint64(len(op.Value)))
		buf = append(buf, op.Value...)
	}
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

func value(n int, seed byte) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = seed + byte(i*7)
	}
	return v
}

// commitCases are commits (each a list of batches) that cover every way the records are cut
// into pieces: values below and at copyBelow, empty values, deletes, batches with no large value,
// and more pieces than one pwritev takes.
func commitCases() map[string][][]Op {
	many := make([]Op, 0, 600)
	for i := range 600 { // 1200 pieces: 2 pwritev calls
		many = append(many, Op{Key: fmt.Sprint("many/", i), Value: value(copyBelow+i%50, byte(i))})
	}
	return map[string][][]Op{
		"one small set": {{set("a", "1")}},
		"sets, deletes and empty values": {
			{set("a", "1"), {Key: "big", Value: value(2*copyBelow, 1)}, del("a"), {Key: "empty", Value: []byte{}}},
			{del("none"), {Key: "nil", Value: nil}},
			{{Key: "big", Value: value(1000, 2)}, {Key: "big2", Value: value(copyBelow+1, 9)}},
		},
		"values around copyBelow": {
			{{Key: "below", Value: value(copyBelow-1, 3)}, {Key: "at", Value: value(copyBelow, 4)}},
			{{Key: "at", Value: value(copyBelow, 5)}, {Key: "at2", Value: value(copyBelow, 6)}},
		},
		"only deletes": {{del("x"), del("y")}},
		"large value last, then a batch": {
			{{Key: "", Value: value(copyBelow+4096, 7)}},
			{{Key: strings.Repeat("k", 300), Value: value(200, 8)}},
		},
		"more pieces than IOV_MAX": {many, {set("after", "many")}},
	}
}

// The records of a commit, written with pwritev from the values' own slices, are the bytes
// encodeBatch gives for the same batches; Get and a replay find every value.
func TestCommitWritesWhatEncodeBatchWould(t *testing.T) {
	for name, batches := range commitCases() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 16 << 20}
			l := open(t, dir, opts)
			require.NoError(t, l.Apply(t.Context(), []Op{set("before", "x")})) // a commit at an offset
			want := encodeBatch(nil, []Op{set("before", "x")})
			reqs := make([]*request, len(batches))
			latest := map[string][]byte{"before": []byte("x")}
			for i, ops := range batches {
				reqs[i] = &request{ops: ops}
				want = encodeBatch(want, ops)
				for _, op := range ops {
					if op.Delete {
						delete(latest, op.Key)
					} else {
						latest[op.Key] = op.Value
					}
				}
			}
			require.NoError(t, l.commit(reqs)) // the commit loop is idle: nothing was enqueued
			require.Empty(t, l.recs.values, "no reference to the values after the commit")
			for _, v := range l.recs.values[:cap(l.recs.values)] {
				require.Nil(t, v.value, "no reference to the values after the commit")
			}
			for _, p := range l.recs.iovs[:cap(l.recs.iovs)] {
				require.Nil(t, p, "no reference to the values after the commit")
			}

			file, err := os.ReadFile(filepath.Join(dir, segName(1)))
			require.NoError(t, err)
			require.Equal(t, int64(len(want)), l.segs[1].size)
			require.True(t, bytes.Equal(want, file[:len(want)]), "the bytes on disk are encodeBatch's")
			require.True(t, allZero(file[len(want):]))
			check := func(l *Log) {
				t.Helper()
				for k, v := range latest {
					got, ok, err := l.GetAppend(nil, k)
					require.NoError(t, err)
					require.True(t, ok, k)
					require.Equal(t, string(v), string(got), k)
				}
				require.Equal(t, len(latest), l.Len())
			}
			check(l)
			require.NoError(t, l.Close())
			check(open(t, dir, opts))
		})
	}
}

// writeAt gives pwritev at most IOV_MAX pieces, none empty, and goes on after short writes and
// EINTR; a failed or stalled write is an error.
func TestRecordsWriteAt(t *testing.T) {
	for name, batches := range commitCases() {
		t.Run(name, func(t *testing.T) {
			var r records
			var want []byte
			for _, ops := range batches {
				r.add(ops)
				want = encodeBatch(want, ops)
			}
			require.Equal(t, len(want), r.size())
			const at = 100
			var file []byte
			calls := 0
			short := func(iovs [][]byte, off int64) (int, error) {
				calls++
				require.LessOrEqual(t, len(iovs), maxIovecs)
				if calls%3 == 0 {
					return 0, unix.EINTR
				}
				require.Equal(t, int64(len(file)), off-at, "each call goes on where the last one stopped")
				limit := 1 + calls*97 // a short write, of a size that cuts pieces anywhere
				for _, p := range iovs {
					require.NotEmpty(t, p)
					p = p[:min(len(p), limit)]
					file = append(file, p...)
					limit -= len(p)
					if limit == 0 {
						break
					}
				}
				return 1 + calls*97 - limit, nil
			}
			require.NoError(t, r.writeAt(short, at))
			require.True(t, bytes.Equal(want, file))
		})
	}
	var r records
	r.add([]Op{{Key: "k", Value: value(4096, 0)}})
	failing := errors.New("no space left on device")
	require.ErrorIs(t, r.writeAt(func([][]byte, int64) (int, error) { return 0, failing }, 0), failing)
	require.ErrorIs(t, r.writeAt(func([][]byte, int64) (int, error) { return 0, nil }, 0), io.ErrShortWrite)
}

// FuzzRecords checks that the records of any batches are encodeBatch's bytes and decode back
// to the batches, and that decodeBatch refuses whatever else it is given without a panic.
func FuzzRecords(f *testing.F) {
	f.Add([]byte("\x01k\x05value\x02gone"), uint16(3))
	f.Add(bytes.Repeat([]byte{0x01, 0x80, 0xff}, 200), uint16(700))
	f.Fuzz(func(t *testing.T, data []byte, large uint16) {
		_, _, _ = decodeBatch(data)
		// Ops from data: a byte's low bit says delete, the rest the length of the key that
		// follows; a value is as long as the byte says, or as large says every third op.
		var ops []Op
		for i := 0; len(data) > 0; i++ {
			c := data[0]
			data = data[1:]
			k := min(int(c>>1), len(data))
			op := Op{Key: string(data[:k]), Delete: c&1 == 1}
			data = data[k:]
			if !op.Delete {
				n := min(int(c), len(data))
				if i%3 == 2 {
					n = int(large)
				}
				op.Value = value(n, c)
			}
			ops = append(ops, op)
		}
		var r records
		r.add(ops)
		r.add(ops[:len(ops)/2])
		var got []byte
		for _, p := range r.pieces() {
			got = append(got, p...)
		}
		want := encodeBatch(encodeBatch(nil, ops), ops[:len(ops)/2])
		require.True(t, bytes.Equal(want, got))
		decoded, n, err := decodeBatch(got)
		require.NoError(t, err)
		require.Len(t, decoded, len(ops))
		for i, op := range ops {
			require.Equal(t, op.Key, decoded[i].key)
			require.Equal(t, op.Delete, decoded[i].delete)
			if !op.Delete {
				require.Equal(t, r.offsets[i], decoded[i].valueOff)
				require.Equal(t, string(op.Value), string(got[decoded[i].valueOff:][:decoded[i].valueLen]))
			}
		}
		_, m, err := decodeBatch(got[n:])
		require.NoError(t, err)
		require.Equal(t, len(got), n+m)
	})
}

// BenchmarkCommit measures the commit loop's own work per byte of values: batches of an item
// and a read position (8 bytes), as the persistent queues write them, in one group commit.
// Items are single audit events (1–2.5 KB: 32 batches per commit) or a webhook request of 400
// of them (4 batches per commit). Without fsync: what it costs is the disk's, not the log's.
func BenchmarkCommit(b *testing.B) {
	event := func(rnd *rand.Rand) int { return 1024 + rnd.IntN(1536) }
	for _, bc := range []struct {
		name    string
		batches int
		item    func(rnd *rand.Rand) int
	}{
		{"item=event", 32, event},
		{"item=400events", 4, func(rnd *rand.Rand) int {
			n := 0
			for range 400 {
				n += event(rnd)
			}
			return n
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rnd := rand.New(rand.NewPCG(1, 2))
			reqs := make([]*request, bc.batches)
			total := 0
			for i := range reqs {
				v := make([]byte, bc.item(rnd))
				total += len(v)
				reqs[i] = &request{ops: []Op{
					{Key: fmt.Sprintf("exporter/otlp/audit/logs/%d", i), Value: v},
					{Key: "exporter/otlp/audit/logs/wi", Value: make([]byte, 8)},
				}}
			}
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for b.Loop() {
				if err := l.commit(reqs); err != nil { // the commit loop is idle: nothing is enqueued
					b.Fatal(err)
				}
				l.compact() // the keys are written again: old segments are removed
			}
		})
	}
}

// BenchmarkCopyBelow is the measurement behind copyBelow: 32 values of a size, with 40 bytes
// of headers and keys before each, written at the end of a preallocated file either copied into
// one buffer (pwrite) or from their own slices (pwritev).
func BenchmarkCopyBelow(b *testing.B) {
	for _, size := range []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 64 << 10} {
		var pieces [][]byte
		total := 0
		for i := range 32 {
			pieces = append(pieces, value(40, byte(i)), value(size, byte(i)))
			total += 40 + size
		}
		for _, vectored := range []bool{false, true} {
			b.Run(fmt.Sprintf("value=%dKiB/pwritev=%v", size>>10, vectored), func(b *testing.B) {
				f, err := os.Create(filepath.Join(b.TempDir(), "seg"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				const fileBytes = 64 << 20
				_ = unix.Fallocate(int(f.Fd()), 0, 0, fileBytes)
				buf := make([]byte, 0, total)
				b.SetBytes(int64(total))
				b.ReportAllocs()
				off := int64(0)
				for b.Loop() {
					if vectored {
						_, err = unix.Pwritev(int(f.Fd()), pieces, off)
					} else {
						buf = buf[:0]
						for _, p := range pieces {
							buf = append(buf, p...)
						}
						_, err = f.WriteAt(buf, off)
					}
					if err != nil {
						b.Fatal(err)
					}
					if off += int64(total); off+int64(total) > fileBytes {
						off = 0
					}
				}
			})
		}
	}
}
