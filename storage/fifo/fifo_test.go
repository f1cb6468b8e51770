package fifo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wal is a started walstorage extension on dir; Client returns the relay's storage client.
type wal struct {
	ext extension.Extension
}

func startWAL(tb testing.TB, dir string, maxBytes, segmentBytes int64) *wal {
	tb.Helper()
	f := walstorageextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*walstorageextension.Config)
	cfg.Directory, cfg.MaxBytes = dir, maxBytes
	if segmentBytes > 0 {
		cfg.SegmentBytes = segmentBytes
	}
	require.NoError(tb, cfg.Validate())
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(walstorageextension.Type), cfg)
	require.NoError(tb, err)
	require.NoError(tb, ext.Start(context.Background(), componenttest.NewNopHost()))
	w := &wal{ext: ext}
	tb.Cleanup(w.stop)
	return w
}

func (w *wal) stop() { _ = w.ext.Shutdown(context.Background()) }

func (w *wal) client(tb testing.TB) storage.Client {
	tb.Helper()
	c, err := w.ext.(storage.Extension).GetClient(context.Background(), component.KindReceiver, component.MustNewID("otlp"), "relay")
	require.NoError(tb, err)
	return c
}

func openQueue(tb testing.TB, w *wal) *Queue {
	tb.Helper()
	q, err := Open(context.Background(), w.client(tb))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = q.Close() })
	return q
}

func payload(i, size int) []byte {
	b := make([]byte, size)
	copy(b, fmt.Sprintf("item-%d-", i))
	for j := len(fmt.Sprintf("item-%d-", i)); j < size; j++ {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

func seqs(items []Item) []uint64 {
	s := make([]uint64, len(items))
	for i, it := range items {
		s[i] = it.Seq
	}
	return s
}

func TestOrderAndBatching(t *testing.T) {
	q := openQueue(t, startWAL(t, t.TempDir(), 0, 0))
	ctx := context.Background()
	for i := range 6 {
		require.NoError(t, q.Put(ctx, payload(i, 100)))
	}
	require.Equal(t, 6, q.Len())
	require.Equal(t, int64(600), q.Bytes())

	tests := []struct {
		maxBytes int
		want     []uint64
	}{
		{250, []uint64{0, 1}},
		{300, []uint64{2, 3, 4}},
		{10, []uint64{5}}, // one item even when larger than maxBytes
	}
	for _, tt := range tests {
		items, err := q.Next(ctx, tt.maxBytes)
		require.NoError(t, err)
		require.Equal(t, tt.want, seqs(items), "maxBytes %d", tt.maxBytes)
		for _, it := range items {
			require.Equal(t, payload(int(it.Seq), 100), it.Data)
		}
	}
	require.Equal(t, 6, q.Len(), "handed out is not Done")

	// Nothing is handed out twice: the next Next waits.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := q.Next(short, 1000)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestNextBlocksUntilPutAndCloseWakesIt(t *testing.T) {
	q := openQueue(t, startWAL(t, t.TempDir(), 0, 0))
	ctx := context.Background()
	got := make(chan []Item, 1)
	go func() {
		items, err := q.Next(ctx, 1<<20)
		if err != nil {
			items = nil
		}
		got <- items
	}()
	select {
	case <-got:
		t.Fatal("Next returned on an empty queue")
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, q.Put(ctx, []byte("x")))
	select {
	case items := <-got:
		require.Len(t, items, 1)
		require.Equal(t, "x", string(items[0].Data))
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after Put")
	}

	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := q.Next(ctx, 1<<20)
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close(), "idempotent")
	for range 2 {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake Next")
		}
	}
	require.ErrorIs(t, q.Put(ctx, []byte("y")), ErrClosed)
	_, err := q.Next(ctx, 1)
	require.ErrorIs(t, err, ErrClosed)
}

func TestRestartRedeliversWhatIsNotDone(t *testing.T) {
	dir := t.TempDir()
	w := startWAL(t, dir, 0, 0)
	q := openQueue(t, w)
	ctx := context.Background()
	var put []Item
	for i := range 10 {
		require.NoError(t, q.Put(ctx, payload(i, 10+i)))
	}
	all, err := q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Len(t, all, 10)
	put = all
	// Out of order, as several senders do; 0 moves the read position, the others leave gaps.
	require.NoError(t, q.Done(put[7], put[2], put[0], put[3]))
	require.NoError(t, q.Done(put[2]), "a second Done is ignored")
	oldest, ok := q.OldestAdded()
	require.True(t, ok)
	require.True(t, oldest.Equal(put[1].Added))
	require.NoError(t, q.Close())
	w.stop()

	w = startWAL(t, dir, 0, 0)
	q = openQueue(t, w)
	want := []Item{put[1], put[4], put[5], put[6], put[8], put[9]}
	require.Equal(t, len(want), q.Len())
	var wantBytes int64
	for _, it := range want {
		wantBytes += int64(len(it.Data))
	}
	require.Equal(t, wantBytes, q.Bytes())
	oldest, ok = q.OldestAdded()
	require.True(t, ok)
	require.True(t, oldest.Equal(put[1].Added))
	got, err := q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Equal(t, seqs(want), seqs(got))
	for i := range want {
		require.Equal(t, want[i].Data, got[i].Data)
		require.True(t, want[i].Added.Equal(got[i].Added), "Added of %d: %v, want %v", want[i].Seq, got[i].Added, want[i].Added)
	}

	// New items continue the sequence; once everything is Done a restart finds nothing.
	require.NoError(t, q.Put(ctx, []byte("new")))
	items, err := q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []uint64{10}, seqs(items))
	require.NoError(t, q.Done(append(got, items...)...))
	require.Equal(t, 0, q.Len())
	_, ok = q.OldestAdded()
	require.False(t, ok)
	require.NoError(t, q.Close())
	w.stop()

	q = openQueue(t, startWAL(t, dir, 0, 0))
	require.Equal(t, 0, q.Len())
	require.NoError(t, q.Put(ctx, []byte("after")))
	items, err = q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []uint64{11}, seqs(items))
}

func TestFullIsResourceExhaustedUntilDone(t *testing.T) {
	const maxBytes, segmentBytes, size = 64 << 10, 16 << 10, 1000
	q := openQueue(t, startWAL(t, t.TempDir(), maxBytes, segmentBytes))
	ctx := context.Background()
	var err error
	n := 0
	for ; n < 1000; n++ {
		if err = q.Put(ctx, payload(n, size)); err != nil {
			break
		}
	}
	require.Error(t, err)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "max_bytes")
	require.Greater(t, n, maxBytes/size/2)
	require.Equal(t, n, q.Len(), "the refused item is not queued")

	// Nothing Done: still full.
	require.Equal(t, codes.ResourceExhausted, status.Code(q.Put(ctx, payload(n, size))))

	// Done the oldest half: their segments go (asynchronously, after the Done batch is written).
	items, err := q.Next(ctx, n/2*size)
	require.NoError(t, err)
	require.Len(t, items, n/2)
	require.NoError(t, q.Done(items...))
	deadline := time.Now().Add(5 * time.Second)
	for err = q.Put(ctx, payload(n, size)); err != nil; err = q.Put(ctx, payload(n, size)) {
		require.Equal(t, codes.ResourceExhausted, status.Code(err))
		require.True(t, time.Now().Before(deadline), "Put still refused 5s after half the queue was Done: %v", err)
		time.Sleep(10 * time.Millisecond)
	}
	rest, err := q.Next(ctx, 1<<30)
	require.NoError(t, err)
	require.Equal(t, n-n/2+1, len(rest))
	require.Equal(t, payload(n, size), rest[len(rest)-1].Data)
}

func TestConcurrentPutNextDone(t *testing.T) {
	const putters, consumers, perPutter = 4, 4, 300
	q := openQueue(t, startWAL(t, t.TempDir(), 0, 64<<10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	delivered := map[string]int{}
	seqOf := map[string]uint64{}
	var consumersWG sync.WaitGroup
	for c := range consumers {
		consumersWG.Add(1)
		go func() {
			defer consumersWG.Done()
			for {
				items, err := q.Next(ctx, 200*(c+1))
				if err != nil {
					return
				}
				for i := 1; i < len(items); i++ {
					if items[i].Seq <= items[i-1].Seq {
						t.Errorf("batch out of order: %v", seqs(items))
					}
				}
				mu.Lock()
				for _, it := range items {
					delivered[string(it.Data)]++
					seqOf[string(it.Data)] = it.Seq
				}
				mu.Unlock()
				if err := q.Done(items...); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	var putWG sync.WaitGroup
	for p := range putters {
		putWG.Add(1)
		go func() {
			defer putWG.Done()
			for i := range perPutter {
				if err := q.Put(ctx, []byte(fmt.Sprintf("%d/%04d/%s", p, i, make([]byte, i%50)))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	putWG.Wait()
	require.Eventually(t, func() bool { return q.Len() == 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, q.Close())
	consumersWG.Wait()

	require.Len(t, delivered, putters*perPutter)
	for k, n := range delivered {
		require.Equal(t, 1, n, "%q delivered %d times", k, n)
	}
	for p := range putters { // one putter's items keep its order
		for i := 1; i < perPutter; i++ {
			a := seqOf[fmt.Sprintf("%d/%04d/%s", p, i-1, make([]byte, (i-1)%50))]
			b := seqOf[fmt.Sprintf("%d/%04d/%s", p, i, make([]byte, i%50))]
			require.Less(t, a, b, "putter %d item %d", p, i)
		}
	}
	require.Equal(t, int64(0), q.Bytes())
}

// mapClient is a storage.Client without Enqueue, GetAppend or GetPrefix.
type mapClient struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *mapClient) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key], nil
}

func (c *mapClient) Set(_ context.Context, key string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = value
	return nil
}

func (c *mapClient) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

func (c *mapClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	return errors.New("not used")
}

func (c *mapClient) Close(context.Context) error { return nil }

// enqueueOnlyClient has Enqueue but not the reads of a Store.
type enqueueOnlyClient struct{ *mapClient }

func (enqueueOnlyClient) Enqueue(...*storage.Operation) (func(context.Context) error, error) {
	return nil, errors.New("not used")
}

func TestOpenNeedsEnqueue(t *testing.T) {
	for _, c := range []storage.Client{&mapClient{m: map[string][]byte{}}, enqueueOnlyClient{&mapClient{m: map[string][]byte{}}}} {
		_, err := Open(context.Background(), c)
		require.ErrorContains(t, err, "use the walstorage extension")
		require.ErrorContains(t, err, "Enqueue, GetAppend and GetPrefix")
	}
}

func BenchmarkPut(b *testing.B) {
	q := openQueue(b, startWAL(b, b.TempDir(), 0, 0))
	data := payload(0, 4096)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.SetParallelism(16) // the relay's receivers: many requests at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := q.Put(ctx, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// hookClient is a walstorage client whose Enqueue a test can intercept; its other methods are
// the walstorage client's.
type hookClient struct {
	Store
	hook func(ops ...*storage.Operation) (func(context.Context) error, error)
}

func (c *hookClient) Enqueue(ops ...*storage.Operation) (func(context.Context) error, error) {
	if c.hook != nil {
		return c.hook(ops...)
	}
	return c.Store.Enqueue(ops...)
}

func TestPutWhoseWaitEnds(t *testing.T) {
	ctx := context.Background()
	c := &hookClient{Store: startWAL(t, t.TempDir(), 0, 0).client(t).(Store)}
	q, err := Open(ctx, c)
	require.NoError(t, err)
	defer q.Close()

	// A write that fails (and was not stored): the item is forgotten, the next one is handed out.
	c.hook = func(...*storage.Operation) (func(context.Context) error, error) {
		return func(context.Context) error { return errors.New("disk on fire") }, nil
	}
	require.ErrorContains(t, q.Put(ctx, []byte("lost")), "disk on fire")
	require.Equal(t, 0, q.Len())
	c.hook = nil
	require.NoError(t, q.Put(ctx, []byte("kept")))
	items, err := q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "kept", string(items[0].Data))

	// A Put whose context ends before the fsync: the item is handed out once it is durable.
	release := make(chan struct{})
	c.hook = func(ops ...*storage.Operation) (func(context.Context) error, error) {
		wait, err := c.Store.Enqueue(ops...)
		return func(ctx context.Context) error {
			select {
			case <-release:
				return wait(ctx)
			case <-ctx.Done():
				return ctx.Err()
			}
		}, err
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, q.Put(short, []byte("slow")), context.DeadlineExceeded)
	require.Equal(t, 2, q.Len())
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	_, err = q.Next(short2, 1<<20)
	require.ErrorIs(t, err, context.DeadlineExceeded, "not handed out before it is durable")
	close(release)
	items, err = q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "slow", string(items[0].Data))
}

// dropClient is a walstorage client that reports one key as not set.
type dropClient struct {
	Store
	drop string
}

func (c *dropClient) GetAppend(dst []byte, key string) ([]byte, bool, error) {
	if key == c.drop {
		return dst, false, nil
	}
	return c.Store.GetAppend(dst, key)
}

// An item the storage does not have, between two it has, is skipped and forgotten; the others
// are read back whole into the buffer.
func TestNextAppendSkipsMissingItem(t *testing.T) {
	ctx := context.Background()
	c := &dropClient{Store: startWAL(t, t.TempDir(), 0, 0).client(t).(Store), drop: itemKey(1)}
	q, err := Open(ctx, c)
	require.NoError(t, err)
	defer q.Close()
	for i := range 3 {
		require.NoError(t, q.Put(ctx, payload(i, 50+i)))
	}
	items, buf, err := q.NextAppend(ctx, 1<<20, make([]byte, 0, 1))
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 2}, seqs(items))
	for _, it := range items {
		require.Equal(t, payload(int(it.Seq), 50+int(it.Seq)), it.Data)
	}
	require.Len(t, buf, 2*HeaderLen+50+52)
	require.Equal(t, 2, q.Len(), "the missing item is forgotten")
}

func TestStuckItemDoesNotHoldMemory(t *testing.T) {
	q := openQueue(t, startWAL(t, t.TempDir(), 0, 0))
	ctx := context.Background()
	for i := range 1000 {
		require.NoError(t, q.Put(ctx, payload(i, 20)))
	}
	first, err := q.Next(ctx, 1) // a sender keeps retrying this one
	require.NoError(t, err)
	require.Equal(t, []uint64{0}, seqs(first))
	rest, err := q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Len(t, rest, 999)
	for _, it := range rest {
		require.NoError(t, q.Done(it))
	}
	q.mu.Lock()
	kept := len(q.entries)
	q.mu.Unlock()
	require.LessOrEqual(t, kept, 130, "entries of items Done behind the stuck one")
	require.Equal(t, 1, q.Len())
	oldest, _ := q.OldestAdded()
	require.True(t, oldest.Equal(first[0].Added))

	for i := 1000; i < 1003; i++ {
		require.NoError(t, q.Put(ctx, payload(i, 20)))
	}
	items, err := q.Next(ctx, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []uint64{1000, 1001, 1002}, seqs(items))
	require.NoError(t, q.Done(first...))
	require.Equal(t, 3, q.Len())
	oldest, _ = q.OldestAdded()
	require.True(t, oldest.Equal(items[0].Added))
}

func TestItemKeyIsFixedWidthHex(t *testing.T) {
	for _, seq := range []uint64{0, 1, 0xff, 1 << 32, math.MaxUint64} {
		require.Equal(t, fmt.Sprintf("i/%016x", seq), itemKey(seq))
	}
}
