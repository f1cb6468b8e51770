package otlprelayreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/storage/fifo"
)

// BenchmarkRefuse measures refusing a request as busy (over max_inflight_bytes): over HTTP
// (serveHTTP: the 429 with Retry-After and a google.rpc.Status body) and as the gRPC status
// with RetryInfo the gRPC handler returns.
func BenchmarkRefuse(b *testing.B) {
	cfg := createDefaultConfig()
	cfg.MaxInflightBytes = 1
	r, err := newRelay(receivertest.NewNopSettings(Type), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if !r.inflight.TryAcquire(1) { // every request is over the bound
		b.Fatal("cannot take max_inflight_bytes")
	}
	body := []byte("request")
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-protobuf")
			w := httptest.NewRecorder()
			r.serveHTTP(w, req, otlpwire.Logs)
			if w.Code != http.StatusTooManyRequests {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		_, err := r.admit(otlpwire.Logs, int64(len(body)))
		if st := r.grpcStatus(err); st.Code() != codes.ResourceExhausted || len(st.Details()) != 1 {
			b.Fatalf("status %v", st)
		}
		b.ReportAllocs()
		for b.Loop() {
			_, err := r.admit(otlpwire.Logs, int64(len(body)))
			if err := r.grpcStatus(err).Err(); status.Code(err) != codes.ResourceExhausted {
				b.Fatalf("status %v", err)
			}
		}
	})
}

// discardGateway is an h2c server that answers every export OK without reading it further
// than its body: the gateway's side at no cost, so that a benchmark measures the agent's.
func discardGateway(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		w.WriteHeader(http.StatusOK)
	}), Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// benchSpans is a request of n spans of n/8 traces (8 spans each, spread over the request)
// under 4 resources, with attributes as an instrumented HTTP service has them.
func benchSpans(n int) []byte {
	td := ptrace.NewTraces()
	for r := range 4 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		rs.Resource().Attributes().PutStr("k8s.pod.name", fmt.Sprintf("svc-%d-7d9f8c6b5-x2x9z", r))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		for i := range n / 4 {
			k := r*n/4 + i
			sp := ss.Spans().AppendEmpty()
			var tid [16]byte
			binary.BigEndian.PutUint64(tid[:8], uint64(k%(n/8))*0x9e3779b97f4a7c15)
			binary.BigEndian.PutUint64(tid[8:], uint64(k%(n/8)))
			sp.SetTraceID(tid)
			sp.SetSpanID([8]byte{byte(k), byte(k >> 8), 1})
			sp.SetName("GET /api/v1/orders/{id}")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + k))
			sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_005_000_000 + k))
			sp.Attributes().PutStr("http.request.method", "GET")
			sp.Attributes().PutStr("url.path", fmt.Sprintf("/api/v1/orders/%d", k))
			sp.Attributes().PutInt("http.response.status_code", 200)
			sp.Attributes().PutStr("server.address", "orders.shop.svc.cluster.local")
			sp.Attributes().PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
		}
	}
	b, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	return b
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSplitExport is the agent's cost of forwarding one queued request of 512 spans
// (zstd-compressed as queued) to gateways that accept it at no cost: whole to one gateway (the
// no-decode path) or split by trace ID over three (decompress, split on the wire, compress
// three parts, three calls). spans/cpu-s is per core: spans over the CPU time the process
// used (the relay and the discarding gateways), which a loaded machine does not inflate.
func BenchmarkSplitExport(b *testing.B) {
	req := benchSpans(512)
	for _, gws := range []int{1, 3} {
		b.Run(fmt.Sprintf("gateways=%d", gws), func(b *testing.B) {
			cfg := createDefaultConfig()
			for range gws {
				cfg.Forward.Endpoints = append(cfg.Forward.Endpoints, discardGateway(b))
			}
			cfg.Forward.TLS.Insecure = true
			r, err := newRelay(receivertest.NewNopSettings(Type), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if r.fwd, err = newForwarder(cfg, nil); err != nil {
				b.Fatal(err)
			}
			defer r.fwd.close()
			queued := r.zstd.EncodeAll(req, nil)
			ctx := context.Background()
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if !r.export(ctx, otlpwire.Traces, net.Buffers{queued}, []int{512}) {
					b.Fatal("not exported")
				}
			}
			cpu := cpuTime() - cpu0 // of the process: the relay and the discarding gateways
			b.ReportMetric(512*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(512*float64(b.N)/cpu.Seconds(), "spans/cpu-s")
		})
	}
}

// BenchmarkCutExport is the agent's cost per span of queuing and forwarding requests of 512
// spans (64 traces of 8) when each gateway gets exports of the same size, as the senders make
// them: to one gateway, a request compressed as it is queued and sent whole (one call); over
// three, three requests cut as they are queued (cutItem: split by trace ID, a zstd frame per
// gateway) and their parts sent undecoded to their gateways, one export each (exportCut: three
// calls at once, each of about 512 spans). cpu-ns/span and spans/cpu-s are of the process (the
// relay and the discarding gateways).
func BenchmarkCutExport(b *testing.B) {
	req := benchSpans(512)
	for _, gws := range []int{1, 3} {
		b.Run(fmt.Sprintf("gateways=%d", gws), func(b *testing.B) {
			cfg := createDefaultConfig()
			for range gws {
				cfg.Forward.Endpoints = append(cfg.Forward.Endpoints, discardGateway(b))
			}
			cfg.Forward.TLS.Insecure = true
			r, err := newRelay(receivertest.NewNopSettings(Type), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if r.fwd, err = newForwarder(cfg, nil); err != nil {
				b.Fatal(err)
			}
			defer r.fwd.close()
			ctx := context.Background()
			items := make([][]byte, gws)
			var parts []cutPart
			b.SetBytes(int64(len(req) * gws))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if gws == 1 {
					items[0] = r.zstd.EncodeAll(req, items[0][:0])
					if !r.export(ctx, otlpwire.Traces, net.Buffers{items[0]}, []int{512}) {
						b.Fatal("not exported")
					}
					continue
				}
				up, id := r.fwd.router.members(nil)
				parts = parts[:0]
				for i := range items {
					var ok bool
					if items[i], ok = r.cutItem(append(items[i][:0], make([]byte, itemHeader)...), otlpwire.Traces, req, up, id); !ok {
						b.Fatal("not cut")
					}
					if parts, ok = appendCutParts(parts, items[i][fifo.HeaderLen:]); !ok {
						b.Fatal("cut item not read")
					}
				}
				if !r.exportCut(ctx, otlpwire.Traces, parts) {
					b.Fatal("not exported")
				}
			}
			cpu := cpuTime() - cpu0
			spans := 512 * float64(gws) * float64(b.N)
			b.ReportMetric(spans/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/spans, "cpu-ns/span")
			b.ReportMetric(spans/cpu.Seconds(), "spans/cpu-s")
		})
	}
}
