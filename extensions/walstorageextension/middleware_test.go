package walstorageextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"google.golang.org/grpc"

	"github.com/vigil-obs/vigil/storage/wal"
)

// TestMiddlewareAnswersAfterTheWritesAreDurable: behind the middleware a queue's new item is
// left to the request's wait, and the answer leaves once it is durable.
func TestMiddlewareAnswersAfterTheWritesAreDurable(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory = t.TempDir()
	ext := start(t, cfg).(*walStorage)
	q, err := ext.GetClient(context.Background(), component.KindExporter, component.MustNewID("otlp"), "logs")
	require.NoError(t, err)
	log := ext.log

	write := func(ctx context.Context, key string) {
		d := wal.DeferredFrom(ctx)
		require.NotNil(t, d, "the request carries the wait")
		require.NoError(t, q.Batch(ctx, storage.SetOperation(key, []byte("item"))))
		require.Equal(t, 1, d.Len(), "the item's fsync is left to the middleware")
	}

	wrap, err := ext.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(r.Context(), r.URL.Path)
		if r.URL.Path == "/refused" {
			http.Error(w, "no", http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	require.NoError(t, err)
	for i, path := range []string{"/a", "/refused"} {
		code := []int{http.StatusOK, http.StatusTooManyRequests}[i]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, http.NoBody))
		require.Equal(t, code, rec.Code)
		v, err := q.Get(context.Background(), path)
		require.NoError(t, err)
		require.Equal(t, "item", string(v))
		if code == http.StatusOK {
			require.Equal(t, int64(1), log.Stats().Batches, "written when the success left")
		}
	}

	opts, err := ext.GetGRPCServerOptions(context.Background())
	require.NoError(t, err)
	require.Len(t, opts, 1)
	resp, err := durableUnary(context.Background(), "req", &grpc.UnaryServerInfo{}, func(ctx context.Context, _ any) (any, error) {
		write(ctx, "/grpc")
		return "resp", nil
	})
	require.NoError(t, err)
	require.Equal(t, "resp", resp)
	require.Equal(t, int64(3), log.Stats().Batches, "written when the answer leaves (and the refused request's item meanwhile)")
}
