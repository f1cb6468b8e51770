package wal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("WAL_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func set(k, v string) Op { return Op{Key: k, Value: []byte(v)} }
func del(k string) Op    { return Op{Key: k, Delete: true} }

func TestSetGetDeleteAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	ctx := context.Background()
	require.NoError(t, l.Apply(ctx, []Op{set("a", "1"), set("b", "2"), set("a", "3")}))
	require.NoError(t, l.Apply(ctx, []Op{del("b"), set("c", "")}))
	v, err := l.Get("a")
	require.NoError(t, err)
	require.Equal(t, "3", string(v))
	v, err = l.Get("b")
	require.NoError(t, err)
	require.Nil(t, v)
	live := func(l *Log) map[uint64]int64 {
		out := map[uint64]int64{}
		for id, s := range l.segs {
			out[id] = s.live
		}
		return out
	}
	written := live(l)
	require.Equal(t, map[uint64]int64{1: 1}, written, "live bytes: a=3 and c= (b deleted, a overwritten)")
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	require.ErrorIs(t, l.Apply(ctx, []Op{set("x", "y")}), ErrClosed)

	l2 := open(t, dir, Options{})
	v, _ = l2.Get("a")
	require.Equal(t, "3", string(v))
	v, _ = l2.Get("b")
	require.Nil(t, v)
	v, _ = l2.Get("c")
	require.NotNil(t, v)
	require.Equal(t, 2, l2.Len())
	require.Equal(t, written, live(l2), "the index built while writing is the one replay builds")
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	ctx := context.Background()
	require.NoError(t, l.Apply(ctx, []Op{set("kept", "yes")}))
	require.NoError(t, l.Apply(ctx, []Op{set("torn", "this record will be cut short")}))
	require.NoError(t, l.Close())
	path := filepath.Join(dir, segName(1))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, st.Size()-5)) // a crash in the middle of the last write

	l2 := open(t, dir, Options{})
	v, _ := l2.Get("kept")
	require.Equal(t, "yes", string(v))
	v, _ = l2.Get("torn")
	require.Nil(t, v, "a torn batch is absent as a whole")
	require.NoError(t, l2.Apply(ctx, []Op{set("after", "ok")}))
	require.NoError(t, l2.Close())
	l3 := open(t, dir, Options{})
	v, _ = l3.Get("after")
	require.Equal(t, "ok", string(v), "writing after the cut works")
}

func TestDamageInOlderSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 64})
	ctx := context.Background()
	for i := range 10 {
		require.NoError(t, l.Apply(ctx, []Op{set(fmt.Sprint(i), "0123456789012345678901234567890123456789")}))
	}
	require.NoError(t, l.Close())
	f, err := os.OpenFile(filepath.Join(dir, segName(1)), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff}, 12)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open(dir, Options{SegmentBytes: 64})
	require.ErrorContains(t, err, "is damaged at byte 0")
}

func TestGroupCommit(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	const writers, each = 32, 50
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				require.NoError(t, l.Apply(context.Background(), []Op{set(fmt.Sprintf("%d/%d", w, i), "v")}))
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	require.Equal(t, int64(writers*each), st.Batches)
	require.Less(t, st.Commits, st.Batches, "concurrent batches share fsyncs")
	require.Equal(t, writers*each, l.Len())
	t.Logf("%d batches in %d fsyncs", st.Batches, st.Commits)
}

func TestCompactionKeepsLiveValues(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 4096})
	ctx := context.Background()
	payload := string(make([]byte, 200))
	for i := range 200 {
		require.NoError(t, l.Apply(ctx, []Op{set(fmt.Sprintf("k%03d", i), payload+strconv.Itoa(i))}))
		if i >= 5 && i%10 != 0 { // consume most, keep every tenth
			require.NoError(t, l.Apply(ctx, []Op{del(fmt.Sprintf("k%03d", i-5))}))
		}
	}
	entries, _ := os.ReadDir(dir)
	require.Less(t, len(entries), 12, "old segments are compacted away (200 × 200 B would be ≥ 10 segments)")
	check := func(l *Log) {
		for i := range 200 {
			v, err := l.Get(fmt.Sprintf("k%03d", i))
			require.NoError(t, err)
			alive := (i+5)%10 == 0 || i >= 195
			if alive {
				require.Equal(t, payload+strconv.Itoa(i), string(v), "key %d", i)
			} else {
				require.Nil(t, v, "key %d", i)
			}
		}
	}
	check(l)
	require.NoError(t, l.Close())
	check(open(t, dir, Options{SegmentBytes: 4096}))
}

func TestMaxBytesPushesBackButDrains(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxBytes: 1000, SegmentBytes: 512})
	ctx := context.Background()
	var err error
	n := 0
	for ; n < 100; n++ {
		if err = l.Apply(ctx, []Op{set(fmt.Sprint(n), string(make([]byte, 100)))}); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, ErrFull)
	require.ErrorContains(t, err, "limit 1000 bytes (max_bytes)")
	require.ErrorIs(t, l.Apply(ctx, []Op{set("0", "x"), set("new", "y")}), ErrFull, "a batch creating a key is refused")
	require.NoError(t, l.Apply(ctx, []Op{set("0", "position 1")}), "updates of existing keys are accepted when full (consumers' positions)")
	got, err := l.Get("0")
	require.NoError(t, err)
	require.Equal(t, "position 1", string(got))
	for i := range n {
		require.NoError(t, l.Apply(ctx, []Op{del(fmt.Sprint(i))}), "deletes are accepted when full")
	}
	require.Eventually(t, func() bool { return l.DiskBytes() < 1000 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, l.Apply(ctx, []Op{set("again", "ok")}))
}

// crashChild writes batches forever and prints the key of each acknowledged one.
func crashChild(dir string) {
	l, err := Open(dir, Options{SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now().UnixNano()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("%d-%d-%d", start, w, i)
				if err := l.Apply(context.Background(), []Op{set(k, k+string(make([]byte, 500)))}); err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintln(out, k)
				_ = out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestNothingAcknowledgedIsLostOnSIGKILL kills a writer process at random moments, 20 times, and
// checks that every key it saw acknowledged is in the log when it is opened again.
func TestNothingAcknowledgedIsLostOnSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	dir := t.TempDir()
	var acked []string
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "WAL_CRASH_CHILD="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		time.Sleep(time.Duration(20+rand.IntN(150)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		for k := range lines {
			acked = append(acked, k)
		}
		var exitErr *exec.ExitError
		require.True(t, errors.As(cmd.Wait(), &exitErr), "round %d: the child was killed", round)
	}
	require.NotEmpty(t, acked)
	l := open(t, dir, Options{SegmentBytes: 256 << 10})
	for _, k := range acked {
		v, err := l.Get(k)
		require.NoError(t, err)
		require.NotNil(t, v, "acknowledged key %s lost", k)
		require.Equal(t, k, string(v[:len(k)]))
	}
	t.Logf("%d acknowledged batches over 20 SIGKILLs, all present", len(acked))
}

func BenchmarkApplyParallel(b *testing.B) {
	for _, durable := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", durable), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{NoSync: !durable})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			value := make([]byte, 2048)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.SetParallelism(16)
			var n sync.Mutex
			i := 0
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n.Lock()
					i++
					k := strconv.Itoa(i)
					n.Unlock()
					if err := l.Apply(context.Background(), []Op{{Key: k, Value: value}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			st := l.Stats()
			b.ReportMetric(float64(st.Batches)/float64(max(st.Commits, 1)), "batches/fsync")
		})
	}
}

func TestEnqueueKeepsOrder(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	ctx := context.Background()
	var pending []Pending
	for i := range 50 {
		p, err := l.Enqueue([]Op{set("k", strconv.Itoa(i)), set("k"+strconv.Itoa(i), "x")})
		require.NoError(t, err)
		pending = append(pending, p)
	}
	// The last one durable means all before it are.
	require.NoError(t, pending[len(pending)-1].Wait(ctx))
	v, err := l.Get("k")
	require.NoError(t, err)
	require.Equal(t, "49", string(v), "batches are applied in the order they were enqueued")
	for i, p := range pending {
		require.NoError(t, p.Wait(ctx))
		require.NoError(t, p.Wait(ctx), "Wait can be called again")
		v, _ := l.Get("k" + strconv.Itoa(i))
		require.Equal(t, "x", string(v))
	}
	require.NoError(t, l.Close())
	_, err = l.Enqueue([]Op{set("x", "y")})
	require.ErrorIs(t, err, ErrClosed)
}

func TestPreallocatedSegmentsReplay(t *testing.T) {
	dir := t.TempDir()
	const segBytes = 1 << 20
	l := open(t, dir, Options{SegmentBytes: segBytes})
	ctx := context.Background()
	require.NoError(t, l.Apply(ctx, []Op{set("a", "1")}))
	st, err := os.Stat(filepath.Join(dir, segName(1)))
	require.NoError(t, err)
	require.Equal(t, int64(segBytes), st.Size(), "the active segment is preallocated")

	// A process that dies without Close leaves the zeroed, preallocated tail: replay ends there.
	crashed := t.TempDir()
	seg, err := os.ReadFile(filepath.Join(dir, segName(1)))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(crashed, segName(1)), seg, 0o600))
	dir = crashed
	l2 := open(t, dir, Options{SegmentBytes: segBytes})
	v, err := l2.Get("a")
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	require.NoError(t, l2.Apply(ctx, []Op{set("b", "2")}))
	require.NoError(t, l2.Close())

	// Close gives back the unused blocks; an older segment whose trim was not durable before a
	// crash (a zero tail) is not damage either.
	st, err = os.Stat(filepath.Join(dir, segName(1)))
	require.NoError(t, err)
	require.Less(t, st.Size(), int64(1024), "Close trims the active segment to what was written")
	small := Options{SegmentBytes: 64}
	l3 := open(t, dir, small)
	for i := range 4 {
		require.NoError(t, l3.Apply(ctx, []Op{set(fmt.Sprint(i), "0123456789012345678901234567890123456789")}))
	}
	require.NoError(t, l3.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.wal"))
	require.NoError(t, err)
	require.Greater(t, len(segs), 1)
	f, err := os.OpenFile(segs[0], os.O_RDWR|os.O_APPEND, 0) // an older segment
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 4096))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	l4 := open(t, dir, small)
	for _, k := range []string{"a", "b", "0", "3"} {
		v, err := l4.Get(k)
		require.NoError(t, err)
		require.NotNil(t, v, k)
	}
}

func TestGetSeesEnqueuedBatches(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	ctx := context.Background()
	require.NoError(t, l.Apply(ctx, []Op{set("a", "1"), set("gone", "x")}))
	require.False(t, l.CreatesKey([]Op{set("a", "2"), del("b")}))
	p, err := l.Enqueue([]Op{set("a", "2"), set("b", "new"), del("gone"), set("b", "newer")})
	require.NoError(t, err)
	require.False(t, l.CreatesKey([]Op{set("b", "3")}), "b is in an enqueued batch")
	require.True(t, l.CreatesKey([]Op{set("c", "3")}))
	for k, want := range map[string]string{"a": "2", "b": "newer", "gone": ""} {
		v, err := l.Get(k)
		require.NoError(t, err)
		require.Equal(t, want, string(v), "%s, written or not", k)
	}
	require.NoError(t, p.Wait(ctx))
	v, _ := l.Get("b")
	require.Equal(t, "newer", string(v))
	require.Empty(t, l.unwritten, "written batches are read from the index")

	d := &Deferred{}
	for i := range 3 {
		p, err := l.Enqueue([]Op{set(fmt.Sprint("d", i), "v")})
		require.NoError(t, err)
		d.Add(p)
	}
	require.NoError(t, d.Wait(ctx))
	require.Equal(t, 5, l.Len())
}

// GetPrefix and GetAppend read a value's start (with its size) and append a value to a buffer,
// from disk and from a batch not written yet alike; an empty value is set, a deleted one is not.
func TestGetPrefixAndGetAppend(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	require.NoError(t, l.Apply(context.Background(), []Op{set("big", "header-and-a-long-body"), set("empty", "")}))
	p, err := l.Enqueue([]Op{set("pending", "hdr+rest"), del("empty")})
	require.NoError(t, err)
	for _, tc := range []struct {
		key, prefix string
		size        int
		ok          bool
	}{
		{"big", "header", 22, true},
		{"pending", "hdr+re", 8, true},
		{"empty", "", 0, false},
		{"none", "", 0, false},
	} {
		prefix, size, ok, err := l.GetPrefix(tc.key, 6)
		require.NoError(t, err)
		require.Equal(t, tc.ok, ok, tc.key)
		require.Equal(t, tc.prefix, string(prefix), tc.key)
		require.Equal(t, tc.size, size, tc.key)
		buf, ok, err := l.GetAppend([]byte("x:"), tc.key)
		require.NoError(t, err)
		require.Equal(t, tc.ok, ok, tc.key)
		if ok {
			v, _ := l.Get(tc.key)
			require.Equal(t, "x:"+string(v), string(buf), tc.key)
		}
	}
	require.NoError(t, p.Wait(context.Background()))
	prefix, size, ok, err := l.GetPrefix("pending", 100)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "hdr+rest", string(prefix), "a prefix longer than the value is the value")
	require.Equal(t, 8, size)
	v, err := l.Get("empty")
	require.NoError(t, err)
	require.Nil(t, v, "deleted")
}

// TestReplayReadsRecordByRecord: opening a log whose segment is preallocated to 64 MiB (what a
// process that dies leaves) allocates about what its records hold, not the segment: reading the
// segment whole held 64 MiB and more in every agent after each start.
func TestReplayReadsRecordByRecord(t *testing.T) {
	dir := t.TempDir()
	const segBytes = 64 << 20
	l := open(t, dir, Options{SegmentBytes: segBytes})
	ctx := context.Background()
	value := strings.Repeat("v", 64<<10)
	for i := range 64 { // 4 MiB of records
		require.NoError(t, l.Apply(ctx, []Op{set(fmt.Sprint(i), value)}))
	}
	seg, err := os.ReadFile(filepath.Join(dir, segName(1)))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	crashed := t.TempDir() // the segment as a crash leaves it: preallocated, zero tail
	require.NoError(t, os.WriteFile(filepath.Join(crashed, segName(1)), seg, 0o600))
	require.Len(t, seg, segBytes)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l2, err := Open(crashed, Options{SegmentBytes: segBytes})
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l2.Close() })
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "bytes allocated to replay a 64 MiB segment")
	for _, k := range []string{"0", "63"} {
		v, err := l2.Get(k)
		require.NoError(t, err)
		require.Equal(t, value, string(v))
	}
}
