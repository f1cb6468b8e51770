package archive_test

import (
	"testing"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// BenchmarkEncode reports the compression ratio of realistic audit events and the encode speed.
func BenchmarkEncode(b *testing.B) {
	events := audittest.RealisticEvents(10000)
	raw := 0
	for _, e := range events {
		raw += len(e) + 1
	}
	obj, _ := archive.Encode(events)
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	for b.Loop() {
		archive.Encode(events)
	}
	b.ReportMetric(float64(raw)/float64(len(obj)), "ratio")
	b.ReportMetric(float64(raw)/float64(len(events)), "B/event")
}

// BenchmarkDecode reports the decompression speed in MB/s of uncompressed NDJSON.
func BenchmarkDecode(b *testing.B) {
	events := audittest.RealisticEvents(10000)
	obj, _ := archive.Encode(events)
	raw := 0
	for _, e := range events {
		raw += len(e) + 1
	}
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := archive.Decode(obj); err != nil {
			b.Fatal(err)
		}
	}
}
