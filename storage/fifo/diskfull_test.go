package fifo

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"golang.org/x/sys/unix"
)

// TestFailedRemovalIsWrittenAgain: a removal write of Done that fails (a full disk: the storage
// refuses the batch) is written again by the next Done, so the items' space comes back without a
// restart, and the read position on disk follows.
func TestFailedRemovalIsWrittenAgain(t *testing.T) {
	ctx := context.Background()
	w := startWAL(t, t.TempDir(), 0, 0)
	c := &hookClient{Store: w.client(t).(Store)}
	q, err := Open(ctx, c)
	require.NoError(t, err)
	defer q.Close()
	for i := range 6 {
		require.NoError(t, q.Put(ctx, payload(i, 100)))
	}
	first, err := q.Next(ctx, 250) // items 0 and 1
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 1}, seqs(first))

	c.hook = func(...*storage.Operation) (func(context.Context) error, error) { // the disk is full
		return func(context.Context) error { return fmt.Errorf("cannot write segment: %w", unix.ENOSPC) }, nil
	}
	require.NoError(t, q.Done(first...), "Done does not wait")
	c.hook = nil
	for _, it := range first {
		v, err := c.Get(ctx, itemKey(it.Seq))
		require.NoError(t, err)
		require.NotNil(t, v, "the failed removal left item %d in the storage", it.Seq)
	}

	second, err := q.Next(ctx, 100) // item 2
	require.NoError(t, err)
	require.NoError(t, q.Done(second...))
	require.NoError(t, c.Set(ctx, "barrier", []byte{1})) // written after the removals
	for seq := range uint64(3) {
		v, err := c.Get(ctx, itemKey(seq))
		require.NoError(t, err)
		require.Nil(t, v, "item %d is removed by the next Done", seq)
	}
	r, err := readPosition(ctx, c, readKey)
	require.NoError(t, err)
	require.Equal(t, uint64(3), r)

	q2, err := Open(ctx, c) // a restart delivers only what is not Done
	require.NoError(t, err)
	defer q2.Close()
	require.Equal(t, 3, q2.Len())
}
