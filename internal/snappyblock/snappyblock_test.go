package snappyblock

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
)

func TestAppendWritesSnappyBlocksAfterWhatIsThere(t *testing.T) {
	raw := []byte(strings.Repeat("remote write and loki push ", 100))
	dst := Append([]byte("head"), raw)
	if !bytes.HasPrefix(dst, []byte("head")) {
		t.Fatalf("the bytes before the block changed: %q", dst[:4])
	}
	got, err := snappy.Decode(nil, dst[4:])
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("the block does not decode to raw: %v", err)
	}
	n, err := DecodedLen(dst[4:])
	if err != nil || n != len(raw) {
		t.Fatalf("DecodedLen %d, %v; want %d", n, err, len(raw))
	}
	if out := Append([]byte("x"), nil); string(out) != "x" {
		t.Fatalf("an empty raw appended %q", out[1:])
	}
}

func TestDecodedLenRefusesImpossibleClaims(t *testing.T) {
	if n, err := DecodedLen(nil); n != 0 || err != nil {
		t.Fatalf("empty block: %d, %v", n, err)
	}
	// A header claiming 1 MiB (uvarint 0x80 0x80 0x40) in a block of 4 bytes.
	if _, err := DecodedLen([]byte{0x80, 0x80, 0x40, 0}); err == nil || !strings.Contains(err.Error(), "1048576 bytes claimed by a snappy block of 4") {
		t.Fatalf("want the claim refused, got %v", err)
	}
	if _, err := DecodedLen([]byte{0xff}); err == nil {
		t.Fatal("a truncated header was accepted")
	}
}

func TestBuffersAreEmptyAndBounded(t *testing.T) {
	var b Buffers
	p := b.Get()
	*p = append(*p, "abc"...)
	b.Put(p)
	if q := b.Get(); len(*q) != 0 {
		t.Fatalf("Get returned %d bytes", len(*q))
	}
	big := make([]byte, 0, MaxPooled+1)
	b.Put(&big) // dropped, not kept: nothing to observe but no panic
}
