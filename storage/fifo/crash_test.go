package fifo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// crashDirEnv names the directory of the child process TestCrash starts and kills.
const crashDirEnv = "VIGIL_FIFO_CRASH_DIR"

// TestCrash kills, at a random moment, a process that puts items from 8 goroutines and delivers
// some, then reopens its queue: every item whose Put returned and that was not given to Done is
// there exactly once, no item is there twice, and they come in order.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	for round := range 10 {
		acked, done := runAndKill(t, dir, time.Duration(50+rand.IntN(300))*time.Millisecond)

		w := startWAL(t, dir, 0, 64<<10)
		q := openQueue(t, w)
		seen := map[string]bool{}
		var last uint64
		for first := true; q.Len() > 0; {
			items, err := q.Next(context.Background(), 1<<20)
			require.NoError(t, err)
			for _, it := range items {
				p := payloadID(string(it.Data))
				require.False(t, seen[p], "round %d: %q recovered twice", round, p)
				seen[p] = true
				require.True(t, first || it.Seq > last, "round %d: seq %d after %d", round, it.Seq, last)
				first, last = false, it.Seq
			}
			require.NoError(t, q.Done(items...)) // the next round starts from an empty queue
		}
		missing := 0
		for p := range acked {
			if !seen[p] && !done[p] {
				missing++
				t.Errorf("round %d: acknowledged %q lost", round, p)
			}
		}
		t.Logf("round %d: %d acknowledged, %d done, %d recovered, %d lost", round, len(acked), len(done), len(seen), missing)
		require.NoError(t, q.Close())
		w.stop()
	}
}

// runAndKill runs the child on dir, SIGKILLs it after d, and returns the ids of the payloads it
// reported as put (acked) and as given to Done (done).
func runAndKill(t *testing.T, dir string, d time.Duration) (acked, done map[string]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	acked, done = map[string]bool{}, map[string]bool{}
	read := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		r := bufio.NewReader(out)
		once := sync.Once{}
		for {
			line, err := r.ReadString('\n')
			if err != nil { // a line cut by the kill is not a report
				if err == io.EOF {
					err = nil
				}
				read <- err
				return
			}
			kind, p, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			p = payloadID(p)
			switch kind {
			case "put":
				acked[p] = true
				once.Do(func() { close(started) })
			case "done":
				done[p] = true
			}
		}
	}()
	select { // kill it once it is writing, at a random moment
	case <-started:
	case <-time.After(10 * time.Second):
	}
	time.Sleep(d)
	require.NoError(t, cmd.Process.Kill())
	require.NoError(t, <-read)
	_ = cmd.Wait()
	require.NotEmpty(t, acked, "the child put nothing")
	return acked, done
}

// payloadID is a payload of crashChild without its filler: "<pid>-<goroutine>-<i>".
func payloadID(p string) string {
	id, _, _ := strings.Cut(p, "-x")
	return id
}

// crashChild puts items from 8 goroutines and delivers some from 2, reporting on stdout each
// payload after Put returned ("put") and before it is given to Done ("done"), until it is
// killed.
func crashChild(t *testing.T, dir string) {
	w := startWAL(t, dir, 0, 64<<10)
	q := openQueue(t, w)
	ctx := context.Background()
	var mu sync.Mutex
	report := func(kind string, p []byte) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = fmt.Fprintf(os.Stdout, "%s %s\n", kind, p)
	}
	pid := os.Getpid()
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				p := fmt.Appendf(nil, "%d-%d-%d-x%s", pid, g, i, strings.Repeat("x", rand.IntN(2000)))
				if err := q.Put(ctx, p); err != nil {
					report("error", []byte(err.Error()))
					return
				}
				report("put", p)
			}
		}()
	}
	for range 2 {
		go func() {
			for {
				items, err := q.Next(ctx, 16<<10)
				if err != nil {
					return
				}
				// Deliver out of order, and keep some back.
				rand.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
				items = items[:len(items)-len(items)/4]
				for _, it := range items { // before Done: its write may be on disk before Done returns
					report("done", it.Data)
				}
				if err := q.Done(items...); err != nil {
					report("error", []byte(err.Error()))
					return
				}
			}
		}()
	}
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}
