package containerlogsreceiver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

// distinct counts each body the sink received.
func distinct(sink *consumertest.LogsSink) map[string]int {
	seen := map[string]int{}
	for _, r := range records(sink) {
		seen[r.body]++
	}
	return seen
}

// TestRotationAndRestartsEveryLineOnce: a container writes lines (some split into partial
// lines, on both streams) while its file is rotated by rename and by copytruncate, and the
// receiver is stopped and started again on the same walstorage: every line arrives exactly once.
func TestRotationAndRestartsEveryLineOnce(t *testing.T) {
	bothPaths(t, func(t *testing.T, newEnv func(*testing.T) env) {
		const lines, rotateEvery = 3000, 250
		e := newEnv(t)
		path := e.file(t, "shop", "api-0", "uid-api", "api", 0)
		sink := new(consumertest.LogsSink)
		cfg := e.config(nil)
		stop := e.start(t, cfg, sink)

		var written atomic.Int64
		done := make(chan error, 1)
		// allRead waits until the receiver read every line written so far.
		allRead := func(n int) error {
			deadline := time.Now().Add(20 * time.Second)
			for len(distinct(sink)) < n {
				if time.Now().After(deadline) {
					out, _ := exec.Command("ls", "-li", filepath.Dir(path)).CombinedOutput()
					return fmt.Errorf("%d lines read of %d\n%s", len(distinct(sink)), n, out)
				}
				time.Sleep(5 * time.Millisecond)
			}
			return nil
		}
		go func() {
			done <- func() error {
				for i := range lines {
					stream := "stdout"
					if i%4 == 3 {
						stream = "stderr"
					}
					var out string
					if i%7 == 0 { // one output line in two partial lines
						out = fmt.Sprintf("2023-10-06T00:17:10Z %s P line=%d part-one|\n2023-10-06T00:17:10Z %s F part-two\n", stream, i, stream)
					} else {
						out = fmt.Sprintf("2023-10-06T00:17:10Z %s F line=%d\n", stream, i)
					}
					f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
					if err != nil {
						return err
					}
					_, err = f.WriteString(out)
					_ = f.Close()
					if err != nil {
						return err
					}
					written.Store(int64(i + 1))
					if i == 0 || (i+1)%rotateEvery == 1 {
						// A file is found before it is rotated (the kubelet rotates at 10 MiB, checked
						// every 10s): one born and renamed away unseen cannot be known of.
						if err := allRead(i + 1); err != nil {
							return err
						}
					}
					if (i+1)%rotateEvery != 0 {
						continue
					}
					k := (i + 1) / rotateEvery
					if k%2 == 1 { // kubelet: rename, the runtime reopens under the old name
						if err := os.Rename(path, fmt.Sprintf("%s.20231006-0017%02d", path, k)); err != nil {
							return err
						}
						continue
					}
					// copytruncate: lines not read before the truncation are lost by its nature, so
					// truncate once everything written was read.
					if err := allRead(i + 1); err != nil {
						return err
					}
					if err := os.Truncate(path, 0); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
		// Restarts while the file is written and rotated.
		restarts, finished := 0, false
		for ; !finished || restarts < 20; restarts++ { // and more once all is written
			select {
			case err := <-done:
				require.NoError(t, err)
				finished = true
			case <-time.After(40 * time.Millisecond):
			}
			stop()
			stop = e.start(t, cfg, sink)
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(distinct(sink)) < lines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // nothing more may come
		stop()
		seen := distinct(sink)
		for i := range lines {
			want := fmt.Sprintf("line=%d", i)
			if i%7 == 0 {
				want += " part-one|part-two"
			}
			require.Equal(t, 1, seen[want], "%q received %d times", want, seen[want])
		}
		require.Len(t, seen, lines)
		require.Equal(t, lines, sink.LogRecordCount(), "duplicates")
		t.Logf("%d lines, %d rotations, %d restarts", lines, lines/rotateEvery, restarts)
	})
}

func TestMultilineWithFlushTimeout(t *testing.T) {
	bothPaths(t, func(t *testing.T, newEnv func(*testing.T) env) {
		e := newEnv(t)
		path := e.file(t, "ns", "java-0", "uid-j", "app", 0)
		trace := []string{
			`Exception in thread "main" java.lang.IllegalStateException: boom`,
			`	at com.example.App.run(App.java:42)`,
			`	at com.example.App.main(App.java:7)`,
		}
		var lines []string
		for _, l := range append([]string{"starting"}, trace...) {
			lines = append(lines, "2023-10-06T00:17:10Z stderr F "+l)
		}
		appendTo(t, path, lines...)
		sink := new(consumertest.LogsSink)
		e.start(t, e.config(func(c *Config) {
			c.Multiline.LineStartPattern = `^[^\s]`
			c.FlushTimeout = 300 * time.Millisecond
		}), sink)
		recs := waitRecords(t, sink, 1)
		require.Equal(t, "starting", recs[0].body)
		require.Len(t, recs, 1, "the trace waits for its next start line or flush_timeout")
		recs = waitRecords(t, sink, 2)
		require.Equal(t, strings.Join(trace, "\n"), recs[1].body)
	})
}
