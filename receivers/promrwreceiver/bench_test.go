package promrwreceiver

import (
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
)

// BenchmarkDecodeConvertV1 is the receiver's work for one RW 1.0 request as Prometheus sends it
// (2,000 series × 1 sample, 10 labels each): snappy, protobuf, checks, conversion to the OTLP
// metrics the pipeline gets. Goal: ≥ 1M samples/s per core.
func BenchmarkDecodeConvertV1(b *testing.B) {
	const series = 2000
	body := snappy.Encode(nil, marshal(b, benchV1(series)))
	lim := limits{maxLabels: 64}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		raw, err := decompress(body, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		md, rej, _, err := convert(raw, ProtocolV1, "prod-eu-1", lim)
		if err != nil || len(rej) > 0 || md.DataPointCount() != series {
			b.Fatalf("%v %v %d", err, rej, md.DataPointCount())
		}
	}
	b.ReportMetric(float64(b.N)*series/b.Elapsed().Seconds(), "samples/s")
	// On a shared machine the wall clock counts other processes' time too: samples per second of
	// this process's CPU time (run with -cpu 1) is the per-core figure.
	b.ReportMetric(float64(b.N)*series/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeV1 compares the two RW 1.0 decoders on the same request (decode only).
func BenchmarkDecodeV1(b *testing.B) {
	const n = 2000
	raw := marshal(b, benchV1(n))
	for _, d := range []struct {
		name   string
		decode func([]byte, limits) ([]series, []rejection, error)
	}{{"fast", decodeV1Fast}, {"generated", decodeV1Proto}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if ss, _, err := d.decode(raw, limits{maxLabels: 64}); err != nil || len(ss) != n {
					b.Fatal(err, len(ss))
				}
			}
			b.ReportMetric(float64(b.N)*n/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}
