// Package seriesload generates the workload of the series store's scale benchmarks: a rule set
// of about 1,000 rules (vigil's built-in packs plus generated rules with typical windows) and the
// series they select, with realistic sample values every 15 seconds. The store's Go benchmarks
// and benchmarks/seriesmemory (which also pushes the same samples to Prometheus) use it, so that
// both sides see the same data.
package seriesload

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// Kind is how the values of a series evolve.
type Kind uint8

// Kinds of series.
const (
	CounterInt   Kind = iota // requests, bytes: integer increments, mostly small
	CounterFloat             // CPU seconds: fractional increments
	GaugeBytes               // memory: moves in 4 KiB pages now and then
	GaugeFloat               // latency, lag: a random walk with millisecond precision
	DiskFree                 // free bytes: shrinks in 4 KiB steps, freed now and then
	InodesFree               // free inodes: shrinks by a few
	Flag                     // up, link_up: 1, rarely 0
)

// Config sizes a workload.
type Config struct {
	// Series is the number of active series (default 1,000,000).
	Series int
	// Rules is the number of rules, built-in packs included (default 1,000).
	Rules int
	// CapacitySeries is the number of series of the capacity pack's metrics, read over 6h
	// windows by predict_linear (default 2% of Series).
	CapacitySeries int
	// Interval between two samples of a series (default 15s).
	Interval time.Duration
}

// Series is one generated series.
type Series struct {
	Labels labels.Labels
	Kind   Kind
	// Window is the longest range a rule reads from it (the lookback delta, 5m, for instant
	// selectors); History is how far back samples are generated so that the store reaches its
	// steady state (1.5 windows plus one interval).
	Window, History time.Duration
	phase           int64 // ms after each interval boundary
}

// Workload is a rule set and the series it selects.
type Workload struct {
	Rules    []string // PromQL expressions
	Series   []Series
	Interval int64 // ms
	seed     uint64
	state    []float64 // the value of each series, for Run
	started  []bool
}

// New builds a workload; it is deterministic for a given Config.
func New(c Config) (*Workload, error) {
	if c.Series == 0 {
		c.Series = 1_000_000
	}
	if c.Rules == 0 {
		c.Rules = 1000
	}
	if c.CapacitySeries == 0 {
		c.CapacitySeries = c.Series / 50
	}
	if c.Interval == 0 {
		c.Interval = 15 * time.Second
	}
	files, err := rulefiles.Load([]string{rulefiles.BuiltinPrefix + "*.yaml"})
	if err != nil {
		return nil, fmt.Errorf("cannot load the built-in rule packs: %w", err)
	}
	w := &Workload{Interval: c.Interval.Milliseconds(), seed: 0x9e3779b97f4a7c15}
	for _, f := range files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				w.Rules = append(w.Rules, r.Expr)
			}
		}
	}
	capacity := []struct {
		name  string
		share int // of 10
		kind  Kind
		extra []string
	}{
		{"node_filesystem_avail_bytes", 4, DiskFree, []string{"fstype", "ext4", "mountpoint", "/var/lib/data"}},
		{"node_filesystem_files_free", 4, InodesFree, []string{"fstype", "ext4", "mountpoint", "/var/lib/data"}},
		{"kubelet_volume_stats_available_bytes", 2, DiskFree, []string{"persistentvolumeclaim", "data"}},
	}
	for _, m := range capacity {
		for i := range c.CapacitySeries * m.share / 10 {
			w.add(m.kind, 6*time.Hour, k8sLabels(m.name, i, m.extra...))
		}
	}
	// The replication pack's metrics: a few hundred databases.
	for i := range 200 {
		w.add(GaugeFloat, 5*time.Minute, k8sLabels("pg_replication_lag_seconds", i))
		w.add(Flag, 5*time.Minute, k8sLabels("redis_master_link_up", i))
		w.add(CounterInt, 5*time.Minute, k8sLabels("redis_master_repl_offset", i))
		w.add(CounterInt, 5*time.Minute, k8sLabels("redis_connected_slave_offset_bytes", i, "slave_ip", "10.0.0.2", "slave_port", "6379"))
	}
	generated := c.Rules - len(w.Rules)
	if generated <= 0 {
		return nil, fmt.Errorf("cannot generate %d rules: the built-in packs alone have %d", c.Rules, len(w.Rules))
	}
	rest := c.Series - len(w.Series)
	if rest < generated {
		return nil, errors.New("cannot generate the workload: fewer series than rules")
	}
	// Generated rules: four shapes over their own metric names, in turn. A name is shared by two
	// rules now and then (a warning and a critical threshold over different windows).
	type shape struct {
		kind   Kind
		window time.Duration
		expr   string // %s: the metric name
	}
	shapes := []shape{
		{CounterInt, 5 * time.Minute, `sum by (namespace, job) (rate(%s[5m])) > 1000`},
		{GaugeBytes, 10 * time.Minute, `avg_over_time(%s[10m]) > 8e9`},
		{CounterFloat, 10 * time.Minute, `increase(%s[10m]) > 300`},
		{GaugeFloat, 5 * time.Minute, `%s > 30`},
	}
	names := (4*generated + 4) / 5 // so that names >= 4 * second
	second := generated - names
	for n := range names {
		sh := shapes[n%len(shapes)]
		w.Rules = append(w.Rules, fmt.Sprintf(sh.expr, metricName(sh.kind, n)))
	}
	for j := range second {
		w.Rules = append(w.Rules, fmt.Sprintf(`max_over_time(%s[10m]) > 60`, metricName(GaugeFloat, 4*j+3)))
	}
	for i := range rest {
		n := i % names
		sh := shapes[n%len(shapes)]
		window := sh.window
		if n%4 == 3 && n/4 < second {
			window = 10 * time.Minute
		}
		w.add(sh.kind, window, k8sLabels(metricName(sh.kind, n), i/names))
	}
	w.state, w.started = make([]float64, len(w.Series)), make([]bool, len(w.Series))
	return w, nil
}

func metricName(k Kind, n int) string {
	switch k {
	case CounterInt:
		return fmt.Sprintf("app_%d_requests_total", n)
	case CounterFloat:
		return fmt.Sprintf("app_%d_cpu_seconds_total", n)
	case GaugeBytes:
		return fmt.Sprintf("app_%d_memory_bytes", n)
	default:
		return fmt.Sprintf("app_%d_queue_latency_seconds", n)
	}
}

// k8sLabels are the labels of a series scraped from a pod in one of ten clusters.
func k8sLabels(name string, i int, extra ...string) labels.Labels {
	b := labels.NewScratchBuilder(8)
	b.Add("__name__", name)
	b.Add("k8s_cluster_name", fmt.Sprintf("cluster-%d", i%10))
	b.Add("namespace", fmt.Sprintf("team-%d", i%97))
	b.Add("job", fmt.Sprintf("svc-%d", i%211))
	b.Add("pod", fmt.Sprintf("svc-%d-%08x-%05x", i%211, mix(uint64(i/7))&0xffffffff, i))
	b.Add("instance", fmt.Sprintf("10.%d.%d.%d:9100", i>>16&255, i>>8&255, i&255))
	for j := 0; j+1 < len(extra); j += 2 {
		b.Add(extra[j], extra[j+1])
	}
	b.Sort()
	return b.Labels()
}

func (w *Workload) add(k Kind, window time.Duration, l labels.Labels) {
	i := len(w.Series)
	w.Series = append(w.Series, Series{
		Labels: l, Kind: k, Window: window,
		History: window*3/2 + time.Duration(w.Interval)*time.Millisecond,
		phase:   int64(mix(uint64(i)) % uint64(w.Interval)),
	})
}

// Samples returns how many samples Run(end, 0, fn) produces.
func (w *Workload) Samples() int {
	n := 0
	for _, s := range w.Series {
		n += int(s.History.Milliseconds()/w.Interval) + 1
	}
	return n
}

// Run generates samples in time order, one step (interval) after the other, ending with the step
// that starts at end (ms): every series gets its History of samples before end, and then extra
// steps after it. In each step fn is called once per series that has started, with the series'
// index, the timestamp and the value. Run stops at the first error of fn. Values continue from
// where the previous Run left them; a Workload is not safe for concurrent use.
func (w *Workload) Run(end int64, extra int, fn func(i int, t int64, v float64) error) error {
	var longest int64
	for _, s := range w.Series {
		longest = max(longest, s.History.Milliseconds())
	}
	steps := int(longest/w.Interval) + 1
	start := end - int64(steps-1)*w.Interval
	state, started := w.state, w.started
	for k := range steps + extra {
		base := start + int64(k)*w.Interval
		for i := range w.Series {
			s := &w.Series[i]
			if base < end-s.History.Milliseconds() {
				continue
			}
			r := mix(w.seed ^ uint64(i)<<20 ^ uint64(k))
			if !started[i] {
				state[i], started[i] = initial(s.Kind, r), true
			}
			state[i] = next(s.Kind, state[i], r)
			if err := fn(i, base+s.phase, state[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func initial(k Kind, r uint64) float64 {
	switch k {
	case CounterInt, CounterFloat:
		return float64(r%1_000_000) + 1
	case GaugeBytes:
		return float64((r%(1<<20))+1) * 4096 // up to 4 GiB
	case DiskFree:
		return float64((r%(100<<18))+(1<<18)) * 4096 // 1..100 GiB
	case InodesFree:
		return float64(r%5_000_000) + 100_000
	case GaugeFloat:
		return float64(r%60_000)/1000 + 0.001
	}
	return 1
}

func next(k Kind, v float64, r uint64) float64 {
	p := r >> 40 // 24 bits of chance
	switch k {
	case CounterInt:
		return v + float64(r%50)
	case CounterFloat:
		return v + math.Round(float64(r%15_000_000))/1e6 // up to 15 cores, microsecond precision
	case GaugeBytes:
		if p%2 == 0 {
			return v
		}
		return max(v+float64(int64(r%64)-32)*4096, 4096)
	case DiskFree:
		switch {
		case p%2000 == 0:
			return v + float64(r%(1<<18))*4096 // up to 1 GiB freed
		case p%2 == 0:
			return v
		}
		return max(v-float64(r%64+1)*4096, 0)
	case InodesFree:
		return max(v-float64(r%6), 0)
	case GaugeFloat:
		return max(math.Round((v+float64(int64(r%2001)-1000)/1000)*1000)/1000, 0)
	case Flag:
		if p%500 == 0 {
			return 0
		}
		return 1
	}
	return v
}

// mix is splitmix64's finalizer: a cheap deterministic hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
