package walstorageextension

import (
	"context"
	"net/http"

	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/storage/wal"
)

// walstorage is also a server middleware for receivers (`middlewares: [{id: walstorage}]` on an
// OTLP receiver's grpc or http protocol): the request's writes to the durable queue go without
// waiting each for its fsync, and the middleware waits once, for all of them, before the answer
// leaves — see wal.Deferred. Without it a receiver is just as durable, one fsync wait per queue.
var (
	_ extensionmiddleware.GRPCServer = (*walStorage)(nil)
	_ extensionmiddleware.HTTPServer = (*walStorage)(nil)
)

// GetGRPCServerOptions returns the unary interceptor that answers after the request's writes are
// durable (UNAVAILABLE, which OTLP clients retry, when they cannot be made so).
func (s *walStorage) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(durableUnary)}, nil
}

func durableUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	dctx, deferred := wal.WithDeferred(ctx)
	resp, err := handler(dctx, req)
	if werr := deferred.Wait(ctx); err == nil && werr != nil {
		return nil, status.Errorf(codes.Unavailable, "cannot make the request durable, retry: %v", werr)
	}
	return resp, err
}

// GetHTTPHandler returns the wrapper that holds a success answer until the request's writes are
// durable (503 with Retry-After when they cannot be made so).
func (s *walStorage) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dctx, deferred := wal.WithDeferred(r.Context())
			dw := &durableWriter{ResponseWriter: w, deferred: deferred, ctx: r.Context()}
			next.ServeHTTP(dw, r.WithContext(dctx))
			dw.settle()
		}), nil
	}, nil
}

// durableWriter passes an answer on once the deferred writes are durable; a success whose writes
// failed becomes a 503 instead.
type durableWriter struct {
	http.ResponseWriter
	deferred *wal.Deferred
	ctx      context.Context //nolint:containedctx // the request's, for the wait
	settled  bool
	failed   bool
}

func (d *durableWriter) settle() {
	if d.settled {
		return
	}
	d.settled = true
	if err := d.deferred.Wait(d.ctx); err != nil {
		d.failed = true
		d.Header().Set("Retry-After", "1")
		http.Error(d.ResponseWriter, "cannot make the request durable, retry: "+err.Error(), http.StatusServiceUnavailable)
	}
}

func (d *durableWriter) WriteHeader(code int) {
	if code < 300 {
		d.settle()
		if d.failed {
			return
		}
	} else {
		d.settled = true // an error answer: nothing to wait for
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *durableWriter) Write(b []byte) (int, error) {
	if !d.settled {
		d.WriteHeader(http.StatusOK)
	}
	if d.failed {
		return len(b), nil // the success body of a failed request is dropped
	}
	return d.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (d *durableWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
