package wal

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// faults makes the log's writes fail on demand: failWrite makes pwritev write half of what it
// is given and then fail with the error; failSync makes fdatasync fail.
type faults struct {
	mu        sync.Mutex
	failWrite error
	failSync  error
	block     chan struct{} // when set, the next fdatasync waits for it to be closed
}

func (f *faults) install(l *Log) {
	l.pwritev = func(fd int) pwritevFunc {
		real := pwritevFile(fd)
		return func(iovs [][]byte, off int64) (int, error) {
			f.mu.Lock()
			err := f.failWrite
			f.mu.Unlock()
			if err == nil {
				return real(iovs, off)
			}
			half := iovs[0][:max(1, len(iovs[0])/2)] // a torn write: part of the records, then the error
			if _, werr := real([][]byte{half}, off); werr != nil {
				return 0, werr
			}
			return 0, err
		}
	}
	l.fdatasync = func(fd int) error {
		f.mu.Lock()
		err, block := f.failSync, f.block
		f.block = nil
		f.mu.Unlock()
		if block != nil {
			<-block
		}
		if err != nil {
			return err
		}
		return unix.Fdatasync(fd)
	}
}

func (f *faults) set(write, sync error) {
	f.mu.Lock()
	f.failWrite, f.failSync = write, sync
	f.mu.Unlock()
}

// snapshot copies the log's directory as a crash at this instant would leave it (the page cache
// survives a process crash): the segments as they are, without Close's cut.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		src, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		dst, err := os.Create(filepath.Join(out, e.Name()))
		require.NoError(t, err)
		_, err = io.Copy(dst, src)
		require.NoError(t, err)
		require.NoError(t, src.Close())
		require.NoError(t, dst.Close())
	}
	return out
}

// TestWriteFailureIsNotFinal: a batch whose write fails (a full disk) is refused with ErrWrite and
// is absent — now, and after a restart — while the batches before it stay and the next ones are
// written as soon as the disk takes them again.
func TestWriteFailureIsNotFinal(t *testing.T) {
	for name, inject := range map[string]func(*faults){
		"write":     func(f *faults) { f.set(unix.ENOSPC, nil) },
		"fdatasync": func(f *faults) { f.set(nil, unix.ENOSPC) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var (
				mu      sync.Mutex
				changes []error
			)
			l := open(t, dir, Options{SegmentBytes: 1 << 20, WriteStateChanged: func(err error) {
				mu.Lock()
				changes = append(changes, err)
				mu.Unlock()
			}})
			f := &faults{}
			f.install(l)
			ctx := context.Background()
			require.NoError(t, l.Apply(ctx, []Op{set("before", "durable")}))

			inject(f)
			for i := range 3 { // every write fails while the disk is full, each a whole batch
				err := l.Apply(ctx, []Op{set(fmt.Sprint("lost", i), string(value(20_000, byte(i)))), set("before", "overwritten")})
				require.ErrorIs(t, err, ErrWrite)
				require.ErrorIs(t, err, unix.ENOSPC)
				require.ErrorContains(t, err, "cannot write the durable queue")
			}
			require.ErrorIs(t, l.WriteErr(), unix.ENOSPC)
			require.Equal(t, map[string]int64{"no_space": 3}, l.Stats().FailedBatches)
			v, err := l.Get("lost0")
			require.NoError(t, err)
			require.Nil(t, v, "a failed batch is not applied")
			v, _ = l.Get("before")
			require.Equal(t, "durable", string(v), "nor any op of it")

			f.set(nil, nil) // space is back
			require.NoError(t, l.Apply(ctx, []Op{set("after", "durable")}))
			require.NoError(t, l.WriteErr())
			mu.Lock()
			seen := append([]error(nil), changes...) // asserted without the lock the log's callback takes
			mu.Unlock()
			require.Len(t, seen, 2, "one change to failing, one back")
			require.ErrorIs(t, seen[0], unix.ENOSPC)
			require.NoError(t, seen[1])

			check := func(l *Log) {
				t.Helper()
				for k, want := range map[string]string{"before": "durable", "after": "durable", "lost0": "", "lost1": "", "lost2": ""} {
					v, err := l.Get(k)
					require.NoError(t, err)
					require.Equal(t, want, string(v), k)
				}
			}
			check(l)
			check(open(t, snapshot(t, dir), Options{SegmentBytes: 1 << 20})) // a crash now
			require.NoError(t, l.Close())
			check(open(t, dir, Options{SegmentBytes: 1 << 20}))
		})
	}
}

// TestFailedRecordsDoNotReappear: a group commit of two batches whose fsync fails leaves both
// records, complete, in the page cache. The next write starts where they started; if it were
// exactly as long as the first, the second would follow it intact, and a restart would apply a
// batch that was refused — after one written later. The failed write's bytes are cut off first.
func TestFailedRecordsDoNotReappear(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 1 << 20})
	f := &faults{}
	f.install(l)
	ctx := context.Background()

	// Hold the commit loop in the fsync of a first batch, so that a and b are written together.
	release := make(chan struct{})
	f.mu.Lock()
	f.block = release
	f.mu.Unlock()
	first, err := l.Enqueue([]Op{set("first", "1")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.block == nil }, 5*time.Second, time.Millisecond)
	f.set(nil, unix.EIO)
	pa, err := l.Enqueue([]Op{set("pos", "a"), set("a", "refused")})
	require.NoError(t, err)
	pb, err := l.Enqueue([]Op{set("pos", "b"), set("b", "refused")})
	require.NoError(t, err)
	close(release)
	require.NoError(t, first.Wait(ctx))
	require.ErrorIs(t, pa.Wait(ctx), unix.EIO)
	require.ErrorIs(t, pb.Wait(ctx), unix.EIO)
	require.Equal(t, map[string]int64{"io": 2}, l.Stats().FailedBatches)

	f.set(nil, nil)
	require.NoError(t, l.Apply(ctx, []Op{set("pos", "c"), set("c", "written")})) // as long as a's record
	for _, d := range []string{snapshot(t, dir), dir} {
		if d == dir {
			require.NoError(t, l.Close())
		}
		l2 := open(t, d, Options{SegmentBytes: 1 << 20})
		v, _ := l2.Get("pos")
		require.Equal(t, "c", string(v), "the last batch written wins; the refused b does not come back")
		v, _ = l2.Get("b")
		require.Nil(t, v)
		v, _ = l2.Get("a")
		require.Nil(t, v)
	}
}

// TestFullDiskRecovers fills a real (tmpfs) file system under a log with small segments: writes
// fail with ENOSPC — within a segment and when a new segment cannot be created — and succeed
// again once the space is freed, without a restart; nothing acknowledged is lost.
func TestFullDiskRecovers(t *testing.T) {
	dir := testutil.MountTmpfs(t, 2<<20)
	qdir := filepath.Join(dir, "queue")
	l, err := Open(qdir, Options{SegmentBytes: 64 << 10})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	acked := map[string]string{}
	put := func(i int) error {
		k, v := fmt.Sprint("k", i), string(value(10_000, byte(i)))
		err := l.Apply(ctx, []Op{set(k, v)})
		if err == nil {
			acked[k] = v
		}
		return err
	}
	for i := range 20 {
		require.NoError(t, put(i))
	}
	filler := testutil.FillDisk(t, dir)
	var failed error
	i := 20
	for ; i < 200 && failed == nil; i++ { // what the segment has reserved is used up first
		failed = put(i)
	}
	require.ErrorIs(t, failed, unix.ENOSPC, "the disk is full")
	require.ErrorIs(t, failed, ErrWrite)
	for j := range 5 { // and stays refused, batch after batch, also across segment boundaries
		require.ErrorIs(t, put(i+j), unix.ENOSPC)
	}
	require.Equal(t, "no_space", FailureReason(l.WriteErr()))

	require.NoError(t, os.Remove(filler))
	for j := range 20 {
		require.NoError(t, put(1000+j), "writes resume once space is back")
	}
	require.NoError(t, l.WriteErr())
	check := func(l *Log) {
		t.Helper()
		for k, v := range acked {
			got, err := l.Get(k)
			require.NoError(t, err)
			require.Equal(t, v, string(got), k)
		}
		require.Equal(t, len(acked), l.Len(), "nothing refused is there")
	}
	check(l)
	require.NoError(t, l.Close())
	l2, err := Open(qdir, Options{SegmentBytes: 64 << 10})
	require.NoError(t, err)
	defer l2.Close()
	check(l2)
}
