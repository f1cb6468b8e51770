package otlprelayreceiver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/otlpwire"
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
