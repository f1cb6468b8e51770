package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// Shape of TestContainerLogsSIGKILLExactlyOnceInLoki.
const (
	tailPods        = 3                      // containers writing, one file each (plus its rotations)
	tailEvery       = 8 * time.Millisecond   // between a container's lines
	tailRotateAfter = 300                    // lines per file before kubelet-style rename rotation
	tailPartialEach = 37                     // every this many lines is written as a CRI partial (P) + final (F) pair
	tailMaxLines    = 4500                   // per container: stays under Loki's 5000 entries per query
	tailKills       = 20                     // SIGKILLs of the agent
	tailMinBetween  = 300 * time.Millisecond // between kills
	tailMaxBetween  = 900 * time.Millisecond
)

// TestContainerLogsSIGKILLExactlyOnceInLoki: containers write CRI log lines (some split into
// partial lines) while kubelet-style rotation renames their files, and the agent tailing them is
// killed with SIGKILL 20 times and restarted on the same data directory. Every line written
// reaches the gateway (at least once: a batch the agent sent but had not yet marked sent goes
// again after the restart, byte for byte the same record) and is stored exactly once by the real
// Loki behind the gateway, which keeps one entry per stream, timestamp and line.
func TestContainerLogsSIGKILLExactlyOnceInLoki(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil processes; skipped with -short")
	}
	start := time.Now()
	loki := testutil.StartLokiWith(t, testutil.LokiOptions{StructuredMetadata: true})
	ca := testutil.NewCA(t)
	cert := ca.Issue(t, "vigil-agent.cluster-a")
	sink, sinkAddr := startLogSink(t)
	gwAddr := testutil.FreeAddr(t)
	startGatewayWith(t, ca, gwAddr, []string{"VIGIL_LOKI_URL=" + loki.URL}, fmt.Sprintf(`
exporters:
  otlp_grpc/sink:
    endpoint: %s
    tls: {insecure: true}
service:
  pipelines:
    logs:
      exporters: [otlp_grpc/sink, lokipush]
`, sinkAddr))
	spec := newAgentSpec(t, "agent", "cluster-a", cert, ca.CertFile, gwAddr)
	agent := spec.start(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	written := make([][]string, tailPods)
	for p := range tailPods {
		wg.Go(func() { written[p] = writeContainerLog(t, spec.podLogs, p, stop) })
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	for range tailKills {
		time.Sleep(tailMinBetween + rand.N(tailMaxBetween-tailMinBetween))
		require.NoError(t, agent.Cmd.Process.Kill()) // SIGKILL: no flush, no shutdown
		_, _ = agent.Stop(5 * time.Second)
		agent = spec.start(t) // same data directory, same files
	}
	time.Sleep(time.Second) // the last agent reads while the files grow, too
	close(stop)
	wg.Wait()
	require.False(t, t.Failed(), "a writer failed")

	total := 0
	for p := range tailPods {
		total += len(written[p])
		require.Greater(t, len(written[p]), tailRotateAfter, "container %d wrote past a rotation", p)
	}
	// Loki: each container's lines, each exactly once.
	for p := range tailPods {
		testutil.Eventually(t, 90*time.Second, func() error {
			lines, err := lokiLines(loki.URL, fmt.Sprintf(`{cluster="cluster-a", namespace="crash"} | pod="pod-%d"`, p))
			if err != nil {
				return err
			}
			seen := make(map[string]int, len(lines))
			for _, l := range lines {
				seen[l]++
			}
			missing, first := 0, ""
			for _, l := range written[p] {
				switch seen[l] {
				case 0:
					if missing++; first == "" {
						first = l
					}
				case 1:
				default:
					return fmt.Errorf("pod-%d: %q stored %d times", p, l, seen[l])
				}
			}
			if missing > 0 {
				return fmt.Errorf("pod-%d: %d of %d lines not in Loki, %q among them", p, missing, len(written[p]), first)
			}
			if len(lines) != len(written[p]) {
				return fmt.Errorf("pod-%d: Loki has %d lines, %d written", p, len(lines), len(written[p]))
			}
			return nil
		})
	}
	// The gateway: every line at least once; how many came twice.
	duplicates := 0
	for p := range tailPods {
		for _, l := range written[p] {
			n := sink.deliveries(l)
			require.Positive(t, n, "%q reached the gateway", l)
			if n > 1 {
				duplicates++
			}
		}
	}
	t.Logf("%d kills; %d lines written by %d containers (rotated every %d lines, partial pairs every %d); all in Loki exactly once; %d reached the gateway more than once; %s",
		tailKills, total, tailPods, tailRotateAfter, tailPartialEach, duplicates, time.Since(start).Round(time.Second))
}

// writeContainerLog writes container p's CRI log under root (as /var/log/pods does) until stop or
// tailMaxLines, rotating the file by rename as the kubelet does; it returns the lines as their
// content (a partial pair joined).
func writeContainerLog(t *testing.T, root string, p int, stop <-chan struct{}) []string {
	dir := filepath.Join(root, fmt.Sprintf("crash_pod-%d_uid-%d", p, p), "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return nil
	}
	path := filepath.Join(dir, "0.log")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Error(err)
		}
		return f
	}
	f := open()
	var lines []string
	for i := 0; i < tailMaxLines && f != nil; i++ {
		select {
		case <-stop:
			_ = f.Close()
			return lines
		case <-time.After(tailEvery):
		}
		content := fmt.Sprintf("pod-%d line %06d", p, i)
		ts := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }
		var raw string
		if i%tailPartialEach == 0 {
			raw = ts() + " stdout P " + content + " (first half,\n" + ts() + " stdout F  second half)\n"
			content += " (first half, second half)"
		} else {
			raw = ts() + " stdout F " + content + "\n"
		}
		if _, err := f.WriteString(raw); err != nil {
			t.Error(err)
			return lines
		}
		lines = append(lines, content)
		if (i+1)%tailRotateAfter == 0 {
			_ = f.Close()
			if err := os.Rename(path, fmt.Sprintf("%s.%s", path, time.Now().UTC().Format("20060102-150405.000000"))); err != nil {
				t.Error(err)
				return lines
			}
			f = open()
		}
	}
	if f != nil {
		_ = f.Close()
	}
	return lines
}

// lokiLines returns the lines a LogQL log query selects over the last hour, oldest first (at
// most 5000, Loki's default limit).
func lokiLines(base, q string) ([]string, error) {
	qr, err := lokiQuery(base, url.Values{"query": {q}, "limit": {"5000"}, "direction": {"forward"},
		"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixNano(), 10)}, "end": {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)}})
	var out []string
	streams, _ := qr.Data.Result.(loghttp.Streams)
	for _, s := range streams {
		for _, e := range s.Entries {
			out = append(out, e.Line)
		}
	}
	return out, err
}
