package walstorageextension

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/storage/wal"
)

func start(t *testing.T, cfg *Config) storage.Extension {
	t.Helper()
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, ext.Shutdown(context.Background()))
		require.NoError(t, ext.Shutdown(context.Background()))
	})
	return ext.(storage.Extension)
}

func TestClientsAreIsolatedAndDurable(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig()
	cfg.Directory = dir
	ext := start(t, cfg)
	ctx := context.Background()
	a, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("opensearch"), "logs")
	require.NoError(t, err)
	b, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("archive"), "logs")
	require.NoError(t, err)

	require.NoError(t, a.Set(ctx, "wi", []byte("1")))
	require.NoError(t, a.Batch(ctx, storage.SetOperation("0", []byte("item")), storage.SetOperation("wi", []byte("2"))))
	v, err := b.Get(ctx, "wi")
	require.NoError(t, err)
	require.Nil(t, v, "another component does not see a's keys")

	get := storage.GetOperation("wi")
	require.NoError(t, a.Batch(ctx, storage.SetOperation("ri", []byte("1")), storage.DeleteOperation("0"), get))
	require.Equal(t, "2", string(get.Value), "a Get in a batch sees the writes before it")
	v, _ = a.Get(ctx, "0")
	require.Nil(t, v)

	// After a restart the same component finds its keys.
	require.NoError(t, ext.Shutdown(ctx))
	ext2 := start(t, cfg)
	a2, err := ext2.GetClient(ctx, component.KindExporter, component.MustNewID("opensearch"), "logs")
	require.NoError(t, err)
	v, _ = a2.Get(ctx, "ri")
	require.Equal(t, "1", string(v))
}

func TestFullIsResourceExhausted(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory, cfg.MaxBytes, cfg.SegmentBytes = t.TempDir(), 16384, 4096
	ext := start(t, cfg)
	ctx := context.Background()
	c, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("otlp_grpc"), "logs")
	require.NoError(t, err)
	var last error
	for i := 0; i < 100 && last == nil; i++ {
		last = c.Set(ctx, strings.Repeat("k", i+1), make([]byte, 1000))
	}
	require.Equal(t, codes.ResourceExhausted, status.Code(last))
	require.Contains(t, last.Error(), "max_bytes")
}

func TestConfigValidate(t *testing.T) {
	cfg := &Config{MaxBytes: -1, SegmentBytes: 10}
	err := cfg.Validate()
	require.ErrorContains(t, err, "directory: must be set")
	require.ErrorContains(t, err, "max_bytes: -1 must not be negative")
	require.ErrorContains(t, err, "segment_bytes: 10 is below the minimum of 4096")
	cfg = &Config{Directory: "q", MaxBytes: 1 << 20, SegmentBytes: 1 << 19}
	require.ErrorContains(t, cfg.Validate(), "segment_bytes: 524288 must be at most a quarter of max_bytes (1048576)")
}

func TestEnqueue(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory, cfg.MaxBytes, cfg.SegmentBytes = t.TempDir(), 16384, 4096
	ext := start(t, cfg)
	ctx := context.Background()
	c, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("archive"), "archive")
	require.NoError(t, err)
	e, ok := c.(interface {
		Enqueue(ops ...*storage.Operation) (func(context.Context) error, error)
	})
	require.True(t, ok, "walstorage clients offer Enqueue")

	w1, err := e.Enqueue(storage.SetOperation("a", []byte("1")), storage.SetOperation("b", []byte("2")))
	require.NoError(t, err)
	w2, err := e.Enqueue(storage.SetOperation("a", []byte("3")), storage.DeleteOperation("b"))
	require.NoError(t, err)
	require.NoError(t, w2(ctx))
	require.NoError(t, w1(ctx))
	v, _ := c.Get(ctx, "a")
	require.Equal(t, "3", string(v), "in the order enqueued")
	v, _ = c.Get(ctx, "b")
	require.Nil(t, v)

	_, err = e.Enqueue(storage.GetOperation("a"))
	require.ErrorContains(t, err, "only writes")

	var last error
	for i := 0; i < 100 && last == nil; i++ {
		var wait func(context.Context) error
		if wait, last = e.Enqueue(storage.SetOperation(strings.Repeat("k", i+1), make([]byte, 1000))); last == nil {
			last = wait(ctx)
		}
	}
	require.Equal(t, codes.ResourceExhausted, status.Code(last))
}

// TestQueueClientDefersToTheRequest: a persistent queue's new item is enqueued and its fsync left
// to the request's wal.Deferred; its bookkeeping is not waited for; other clients wait.
func TestQueueClientDefersToTheRequest(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Directory = t.TempDir()
	ext := start(t, cfg)
	ctx := context.Background()
	q, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("opensearch"), "logs")
	require.NoError(t, err)
	other, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("archive"), "archive")
	require.NoError(t, err)
	log := ext.(*walStorage).log

	rctx, deferred := wal.WithDeferred(ctx)
	require.NoError(t, q.Batch(rctx, storage.SetOperation("meta", []byte("1")), storage.SetOperation("0", []byte("item"))))
	require.Equal(t, 1, deferred.Len(), "the new item's wait is the request's")
	get := storage.GetOperation("0")
	require.NoError(t, q.Batch(ctx, storage.SetOperation("meta", []byte("2")), get))
	require.Equal(t, "item", string(get.Value), "a consumer reads the item before its fsync")
	require.NoError(t, deferred.Wait(rctx))
	require.Zero(t, deferred.Len())

	// Without a Deferred a new item is durable when Batch returns; so is any write of another client.
	require.NoError(t, other.Set(ctx, "barrier", []byte("x"))) // the bookkeeping above is written by now
	before := log.Stats().Batches
	require.NoError(t, q.Batch(ctx, storage.SetOperation("1", []byte("item"))))
	require.Equal(t, before+1, log.Stats().Batches)
	require.NoError(t, other.Batch(rctx, storage.SetOperation("state", []byte("x"))))
	require.Equal(t, before+2, log.Stats().Batches)
	require.Zero(t, deferred.Len(), "only queue clients defer")

	// Bookkeeping (no new key) returns before its fsync, and is written all the same.
	require.NoError(t, q.Batch(ctx, storage.DeleteOperation("0"), storage.SetOperation("meta", []byte("3"))))
	require.NoError(t, ext.Shutdown(ctx))
	ext2 := start(t, cfg)
	q2, err := ext2.GetClient(ctx, component.KindExporter, component.MustNewID("opensearch"), "logs")
	require.NoError(t, err)
	for k, want := range map[string]string{"0": "", "1": "item", "meta": "3"} {
		v, err := q2.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, want, string(v), k)
	}
}
