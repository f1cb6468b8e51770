package promrwreceiver

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	promexemplar "github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	promremote "github.com/prometheus/prometheus/storage/remote"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
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
		raw, release, err := decompressPooled(body, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		md, rej, _, err := convert(raw, ProtocolV1, "prod-eu-1", lim)
		release()
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

// BenchmarkReceiveV1 is one RW 1.0 request (2,000 series × 1 sample, 10 labels) through a whole
// handler, in process (no network), beside the reference: vigil's receiver (ServeHTTP: body,
// snappy, protobuf, checks, conversion, into a no-op consumer) and Prometheus's own remote-write
// handler (storage/remote.NewWriteHandler, as `--web.enable-remote-write-receiver` serves it,
// into a no-op storage.Appendable). Run with -cpu 1; samples/cpu-s is the per-core figure.
func BenchmarkReceiveV1(b *testing.B) {
	const series = 2000
	body := snappy.Encode(nil, marshal(b, benchV1(series)))
	cfg := createDefaultConfig()
	cfg.Cluster = "prod-eu-1"
	r, err := newReceiver(receivertest.NewNopSettings(Type), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	prom := promremote.NewWriteHandler(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nopAppendable{},
		remote.MessageTypes{remote.WriteV1MessageType}, false, false, false)
	for _, h := range []struct {
		name    string
		handler http.Handler
		want    int
	}{{"vigil", r, http.StatusNoContent}, {"prometheus", prom, http.StatusNoContent}} {
		b.Run(h.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
				req.Header.Set("Content-Encoding", "snappy")
				req.Header.Set("Content-Type", "application/x-protobuf")
				req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
				w := httptest.NewRecorder()
				h.handler.ServeHTTP(w, req)
				if w.Code != h.want {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.N)*series/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}

// nopAppendable is a Prometheus storage that keeps nothing: the reference handler's cost
// without the TSDB's.
type nopAppendable struct{}

func (nopAppendable) Appender(context.Context) storage.Appender { return nopAppender{} }

type nopAppender struct{}

func (nopAppender) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) SetOptions(*storage.AppendOptions) {}
func (nopAppender) AppendExemplar(storage.SeriesRef, labels.Labels, promexemplar.Exemplar) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) AppendSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) Commit() error   { return nil }
func (nopAppender) Rollback() error { return nil }
