// Command seriesmemory measures the memory per series of vigil's series store (storage/series)
// and of Prometheus on the same data, and the store's ingest rate: internal/seriesload's 1,000
// rules and their series (1,000,000 by default), with samples every 15s until every series holds
// its whole window (6h for the capacity metrics read by predict_linear, 5m or 10m for the others).
//
// vigil: the store runs in this process, fed by one goroutine. Figures: heap after GC, less the
// heap before the store was created, per series; ns per sample while filling and over two more
// steps of every series (steady state).
//
// Prometheus (2.42, /usr/bin/prometheus): the same samples (the generator is deterministic) are
// pushed with remote write 1.0 (prompb + snappy), step after step. Figures from its /metrics after
// a forced GC (/debug/pprof/heap?gc=1), less the same figures before the push, per head series:
// go_memstats_alloc_bytes (live heap), go_memstats_heap_inuse_bytes and
// process_resident_memory_bytes.
//
//	go run ./benchmarks/seriesmemory -series 1000000
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/seriesload"
	"github.com/vigil-obs/vigil/storage/series"
)

func main() {
	n := flag.Int("series", 1_000_000, "active series")
	prom := flag.String("prometheus", "/usr/bin/prometheus", "path of the Prometheus binary; empty: vigil only")
	senders := flag.Int("senders", 4, "concurrent remote-write requests to Prometheus")
	batch := flag.Int("batch", 2000, "series per remote-write request")
	flag.Parse()
	fmt.Printf("command: go run ./benchmarks/seriesmemory %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	if err := run(*n, *prom, *senders, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "seriesmemory:", err)
		os.Exit(1)
	}
}

// end is the timestamp of the last fill step: now, rounded to the interval, so that Prometheus
// keeps every sample (its head follows the newest sample, its retention the wall clock).
var end = time.Now().Truncate(time.Minute).UnixMilli()

func run(n int, prom string, senders, batch int) error {
	w, err := seriesload.New(seriesload.Config{Series: n})
	if err != nil {
		return err
	}
	fmt.Printf("workload: %d rules, %d series, %d samples to fill\n", len(w.Rules), len(w.Series), w.Samples())
	if err := runVigil(w); err != nil {
		return err
	}
	if prom == "" {
		return nil
	}
	w, err = seriesload.New(seriesload.Config{Series: n}) // the same values again
	if err != nil {
		return err
	}
	return runPrometheus(w, prom, senders, batch)
}

func runVigil(w *seriesload.Workload) error {
	var needs []series.Need
	for i, r := range w.Rules {
		e, err := rulefiles.Parser.ParseExpr(r)
		if err != nil {
			return err
		}
		ns, err := series.NeedsOf(e, 5*time.Minute, 0, i)
		if err != nil {
			return err
		}
		needs = append(needs, ns...)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := series.NewStore(series.Options{Needs: needs, MaxSeries: 2 * len(w.Series)})
	if err != nil {
		return err
	}
	a := s.NewAppender()
	var (
		fill, steady int
		start        = time.Now()
		fillTime     time.Duration
		steadyStart  time.Time
	)
	err = w.Run(end, 2, func(i int, t int64, v float64) error {
		if t >= end+w.Interval {
			if steady == 0 {
				fillTime = time.Since(start)
				runtime.GC()
				runtime.ReadMemStats(&after)
				steadyStart = time.Now()
			}
			steady++
		} else {
			fill++
		}
		_, err := a.Append(0, w.Series[i].Labels, t, v)
		return err
	})
	steadyTime := time.Since(steadyStart)
	if err != nil {
		return fmt.Errorf("cannot append: %w", err)
	}
	st := s.Stats()
	fmt.Printf("vigil: %d series, %.1f samples held per series; heap %.0f bytes/series (%.2f GiB)\n",
		st.Series, float64(st.Samples)/float64(st.Series), float64(after.HeapAlloc-before.HeapAlloc)/float64(st.Series),
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<30))
	fmt.Printf("vigil: fill %.0f ns/sample (%.0f samples/s), steady state at %d series %.0f ns/sample (%.0f samples/s), one goroutine\n",
		float64(fillTime.Nanoseconds())/float64(fill), float64(fill)/fillTime.Seconds(), st.Series,
		float64(steadyTime.Nanoseconds())/float64(steady), float64(steady)/steadyTime.Seconds())
	runtime.KeepAlive(s)
	return nil
}

func runPrometheus(w *seriesload.Workload, bin string, senders, batch int) error {
	dir, err := os.MkdirTemp("", "seriesmemory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o600); err != nil {
		return err
	}
	addr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", bin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	base := "http://" + addr
	if err := waitReady(base + "/-/ready"); err != nil {
		return fmt.Errorf("%w\n%s", err, out.String())
	}
	m0, err := metricsAfterGC(base)
	if err != nil {
		return err
	}
	fmt.Printf("prometheus: %s, pushing with remote write (%d requests at a time, %d series each)\n", version(bin), senders, batch)
	start := time.Now()
	sent, err := push(w, base+"/api/v1/write", senders, batch)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out.String())
	}
	pushTime := time.Since(start)
	time.Sleep(5 * time.Second) // let Prometheus finish what the push started (head GC, compaction)
	m1, err := metricsAfterGC(base)
	if err != nil {
		return err
	}
	heads := m1["prometheus_tsdb_head_series"]
	fmt.Printf("prometheus: %d samples accepted in %s (%.0f samples/s end to end); head: %.0f series, %.0f chunks; %.0f blocks compacted\n",
		sent, pushTime.Round(time.Second), float64(sent)/pushTime.Seconds(), heads, m1["prometheus_tsdb_head_chunks"], m1["prometheus_tsdb_compactions_total"])
	for _, name := range []string{"go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		fmt.Printf("prometheus: %s %.0f bytes/series (%.2f GiB after, %.2f GiB before the push)\n",
			name, (m1[name]-m0[name])/heads, m1[name]/(1<<30), m0[name]/(1<<30))
	}
	return nil
}

// push sends every sample of w, one step after the other; within a step, requests of batch series
// go out senders at a time. It returns the number of samples Prometheus accepted.
func push(w *seriesload.Workload, url string, senders, batch int) (int, error) {
	type item struct {
		i int
		t int64
		v float64
	}
	var (
		step     []item
		stepT    int64 = -1
		sent     int
		client   = &http.Client{Timeout: 2 * time.Minute}
		pending  = make(chan []item)
		errs     = make(chan error, senders)
		wg       sync.WaitGroup
		firstErr error
	)
	for range senders {
		go func() {
			for items := range pending {
				req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(items))}
				for k, it := range items {
					ts := &req.Timeseries[k]
					w.Series[it.i].Labels.Range(func(l labels.Label) {
						ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value})
					})
					ts.Samples = []prompb.Sample{{Timestamp: it.t, Value: it.v}}
				}
				err := send(client, url, &req)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				wg.Done()
			}
		}()
	}
	flush := func() error {
		for k := 0; k < len(step); k += batch {
			wg.Add(1)
			pending <- step[k:min(k+batch, len(step))]
		}
		wg.Wait()
		sent += len(step)
		step = nil
		select {
		case err := <-errs:
			return err
		default:
			return nil
		}
	}
	err := w.Run(end, 0, func(i int, t int64, v float64) error {
		// A step is every sample in [base, base+interval): the generator's phases are below it.
		if base := t - t%w.Interval; base != stepT {
			if err := flush(); err != nil {
				return err
			}
			stepT = base
		}
		step = append(step, item{i, t, v})
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		firstErr = err
	}
	close(pending)
	return sent, firstErr
}

func send(client *http.Client, url string, req *prompb.WriteRequest) error {
	b, err := req.Marshal()
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(snappy.Encode(nil, b)))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := client.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("remote write answered %s: %s", resp.Status, body)
	}
	return nil
}

// metricsAfterGC forces a GC in Prometheus (the pprof heap handler does) and reads its /metrics.
func metricsAfterGC(base string) (map[string]float64, error) {
	for _, u := range []string{base + "/debug/pprof/heap?gc=1", base + "/metrics"} {
		if u == base+"/metrics" {
			time.Sleep(time.Second)
		}
		resp, err := http.Get(u) //nolint:noctx // a local server, answering at once
		if err != nil {
			return nil, err
		}
		if u != base+"/metrics" {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			continue
		}
		defer resp.Body.Close()
		m := map[string]float64{}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
				continue
			}
			name, val, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				m[name] = f
			}
		}
		if _, ok := m["prometheus_tsdb_head_series"]; !ok {
			return nil, errors.New("prometheus /metrics has no prometheus_tsdb_head_series")
		}
		return m, sc.Err()
	}
	return nil, errors.New("unreachable")
}

func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url) //nolint:noctx // polling a local server
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready at %s after 30s", url)
}

func version(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "unknown version"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return first
}
