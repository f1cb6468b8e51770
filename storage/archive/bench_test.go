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

// BenchmarkBuildIndex indexes an object's worth of realistic audit events (what the sealer does
// for each object it writes).
func BenchmarkBuildIndex(b *testing.B) {
	events, n := realisticEvents(10000)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		_ = archive.BuildIndex(events)
	}
}

// realisticEvents are n realistic audit events and their bytes.
func realisticEvents(n int) ([][]byte, int64) {
	events := audittest.RealisticEvents(n)
	var size int64
	for _, e := range events {
		size += int64(len(e))
	}
	return events, size
}
