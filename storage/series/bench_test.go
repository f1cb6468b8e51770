package series

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/seriesload"
)

// benchSeries are n series of node_filesystem_avail_bytes, as a capacity rule selects them.
func benchSeries(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings("__name__", "node_filesystem_avail_bytes", "cluster", fmt.Sprintf("c%d", i%10),
			"instance", fmt.Sprintf("node-%d:9100", i/10), "mountpoint", "/var/lib/data", "device", fmt.Sprintf("sd%d", i%7))
	}
	return out
}

// BenchmarkAppend appends to series that a predict_linear rule keeps (6h window, one sample per
// 15s per series, i.e. up to 1440 samples retained per series).
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			s := storeFor(b, n, nil, "predict_linear(node_filesystem_avail_bytes[6h], 4*3600) < 0")
			ls := benchSeries(n)
			a := s.NewAppender()
			b.ReportAllocs()
			b.SetBytes(16) // one (timestamp, value) sample
			b.ResetTimer()
			for i := range b.N {
				if _, err := a.Append(0, ls[i%n], int64(i/n)*15_000, float64(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(s.Stats().Series), "series")
		})
	}
}

// BenchmarkAppendNotNeeded is the cost of a sample that no rule needs.
func BenchmarkAppendNotNeeded(b *testing.B) {
	s := storeFor(b, 10, nil, "up == 0")
	ls := benchSeries(1000)
	a := s.NewAppender()
	b.ReportAllocs()
	b.SetBytes(16)
	b.ResetTimer()
	for i := range b.N {
		if _, err := a.Append(0, ls[i%len(ls)], int64(i), 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryPerSeries reports the heap a series costs in the store: its labels, index
// entries and one sample (bytes/series), and with a full window of 360 samples (15s over 90m).
func BenchmarkMemoryPerSeries(b *testing.B) {
	for _, samples := range []int{1, 360} {
		b.Run(fmt.Sprintf("samples=%d", samples), func(b *testing.B) {
			const n = 50_000
			ls := benchSeries(n)
			var perSeries float64
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				s := storeFor(b, n, nil, "max_over_time(node_filesystem_avail_bytes[90m]) < 1e9")
				a := s.NewAppender()
				for j := range samples {
					for i := range ls {
						if _, err := a.Append(0, ls[i], int64(j)*15_000, 1); err != nil {
							b.Fatal(err)
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSeries = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perSeries, "bytes/series")
		})
	}
}

// BenchmarkAppendAtScale is the target shape: 1,000 rules (one selector each, over 1,000
// metric names) and 1,000,000 active series (1,000 per name), 4 samples retained per series
// (a 1m window at 15s). Run with -benchtime=4000000x or more so that every series is hit.
func BenchmarkAppendAtScale(b *testing.B) {
	if testing.Short() {
		b.Skip("1M series")
	}
	const names, perName = 1000, 1000
	var needs []Need
	for i := range names {
		e, err := rulefiles.Parser.ParseExpr(fmt.Sprintf("max_over_time(metric_%d[1m]) > 100", i))
		if err != nil {
			b.Fatal(err)
		}
		n, err := NeedsOf(e, 5*time.Minute, 0, i)
		if err != nil {
			b.Fatal(err)
		}
		needs = append(needs, n...)
	}
	s, err := NewStore(Options{Needs: needs, MaxSeries: names * perName})
	if err != nil {
		b.Fatal(err)
	}
	ls := make([]labels.Labels, 0, names*perName)
	for i := range names {
		for j := range perName {
			ls = append(ls, labels.FromStrings("__name__", fmt.Sprintf("metric_%d", i), "instance", fmt.Sprintf("host-%d:9100", j), "job", "node"))
		}
	}
	a := s.NewAppender()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.SetBytes(16)
	b.ResetTimer()
	for i := range b.N {
		if _, err := a.Append(0, ls[i%len(ls)], int64(i/len(ls))*15_000, float64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	b.ReportMetric(float64(st.Series), "series")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(max(st.Series, 1)), "heap-bytes/series")
}

// BenchmarkIngestAtScale is issue 5's target: 1,000 rules (the built-in packs and generated rules
// over rate[5m], increase[10m], avg_over_time[10m], max_over_time[10m], instant comparisons and
// predict_linear[6h] for capacity metrics only) and 1,000,000 active series with realistic values
// every 15s (internal/seriesload). The store is first filled until every series holds its whole
// window (not timed; that fill rate is reported as fill-ns/sample), then b.N samples are timed,
// one step of every series after the other. Reported: heap bytes per retained series after the
// fill (after GC, less the heap before the store was created), ns per timed sample.
//
//	go test -run '^$' -bench IngestAtScale -benchtime 2000000x -cpu 1 ./storage/series/
//
// SERIESLOAD_SERIES overrides the number of series. With -cpu 1 the process's CPU time
// (cpu-ns/sample) includes the garbage collector's.
func BenchmarkIngestAtScale(b *testing.B) {
	if testing.Short() {
		b.Skip("1M series")
	}
	// Every run of the function fills the store anew (minutes at 1M series): only a fixed count
	// of samples (-benchtime Nx) runs it once.
	if bt := flag.Lookup("test.benchtime"); bt == nil || !strings.HasSuffix(bt.Value.String(), "x") {
		b.Skip("fills 1M series on every run: give a sample count, e.g. -benchtime 2000000x")
	}
	n := 1_000_000
	if v := os.Getenv("SERIESLOAD_SERIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	w, err := seriesload.New(seriesload.Config{Series: n})
	if err != nil {
		b.Fatal(err)
	}
	var needs []Need
	for i, r := range w.Rules {
		e, err := rulefiles.Parser.ParseExpr(r)
		if err != nil {
			b.Fatal(err)
		}
		ns, err := NeedsOf(e, 5*time.Minute, 0, i)
		if err != nil {
			b.Fatal(err)
		}
		needs = append(needs, ns...)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := NewStore(Options{Needs: needs, MaxSeries: 2 * n})
	if err != nil {
		b.Fatal(err)
	}
	a := s.NewAppender()
	const end = int64(1_767_225_600_000)
	var (
		filled, timed     int
		fillStart         = time.Now()
		fillCPU0          = cpuTime()
		fillTime, fillCPU time.Duration
		steadyCPU0        time.Duration
		errStop           = errors.New("stop")
	)
	steps := (b.N + len(w.Series) - 1) / len(w.Series)
	b.ReportAllocs()
	b.SetBytes(16)
	err = w.Run(end, steps, func(i int, t int64, v float64) error {
		if t >= end+w.Interval { // the first timed step
			if timed == 0 {
				fillTime, fillCPU = time.Since(fillStart), cpuTime()-fillCPU0
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ResetTimer()
				steadyCPU0 = cpuTime()
			}
			if timed == b.N {
				return errStop
			}
			timed++
		} else {
			filled++
		}
		if _, err := a.Append(0, w.Series[i].Labels, t, v); err != nil {
			return err
		}
		return nil
	})
	b.StopTimer()
	steadyCPU := cpuTime() - steadyCPU0
	if err != nil && !errors.Is(err, errStop) {
		b.Fatal(err)
	}
	st := s.Stats()
	if st.Series != len(w.Series) {
		b.Fatalf("the store holds %d series, want %d", st.Series, len(w.Series))
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(st.Series), "heap-bytes/series")
	b.ReportMetric(float64(fillTime.Nanoseconds())/float64(filled), "fill-ns/sample")
	// CPU time of the process (user + system) is steadier than wall time on a shared machine.
	b.ReportMetric(float64(fillCPU.Nanoseconds())/float64(filled), "fill-cpu-ns/sample")
	b.ReportMetric(float64(steadyCPU.Nanoseconds())/float64(max(timed, 1)), "cpu-ns/sample")
	b.ReportMetric(float64(st.Samples)/float64(st.Series), "samples/series")
	b.ReportMetric(float64(len(w.Rules)), "rules")
	runtime.KeepAlive(s)
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvalOverWindow is the read side: Prometheus's engine evaluating rules over series
// that hold their whole window (1,000 capacity series, 6h of samples every 15s; 1,000 counters,
// 5m), as a rule group does at every evaluation. ns/op is one evaluation of the expression.
func BenchmarkEvalOverWindow(b *testing.B) {
	for _, c := range []struct{ name, expr string }{
		{"predict_linear-6h", "predict_linear(node_filesystem_avail_bytes[6h], 4*3600) < 0"},
		{"rate-5m", "sum by (instance) (rate(node_filesystem_avail_bytes[5m]))"},
	} {
		b.Run(c.name, func(b *testing.B) {
			const n, steps = 1000, 6 * 240
			s := storeFor(b, n, nil, c.expr)
			ls := benchSeries(n)
			a := s.NewAppender()
			for j := range steps {
				for i := range ls {
					if _, err := a.Append(0, ls[i], int64(j)*15_000, float64(1<<30-j*4096*(i%7))); err != nil {
						b.Fatal(err)
					}
				}
			}
			eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e8, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: rulefiles.Parser})
			ts := time.UnixMilli(int64(steps-1) * 15_000)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				q, err := eng.NewInstantQuery(context.Background(), s, nil, c.expr, ts)
				if err != nil {
					b.Fatal(err)
				}
				if res := q.Exec(context.Background()); res.Err != nil {
					b.Fatal(res.Err)
				}
				q.Close()
			}
		})
	}
}

// BenchmarkGCOneName forgets half of 100,000 series of one metric name (pods that went away).
func BenchmarkGCOneName(b *testing.B) {
	const n = 100_000
	ls := benchSeries(n)
	for range b.N {
		b.StopTimer()
		s := storeFor(b, n, nil, "rate(node_filesystem_avail_bytes[5m])")
		a := s.NewAppender()
		for i, l := range ls {
			if _, err := a.Append(0, l, int64(i%2)*10*60_000, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if got := s.GC(10 * 60_000); got != n/2 {
			b.Fatalf("GC removed %d series, want %d", got, n/2)
		}
	}
}
