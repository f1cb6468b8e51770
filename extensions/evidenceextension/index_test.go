package evidenceextension

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/processors/redactprocessor"
)

func defaultIndex(t testing.TB, mod func(*IndexOptions)) *Index {
	t.Helper()
	c := createDefaultConfig()
	o := IndexOptions{MaxLinesPerPod: c.MaxLinesPerPod, MaxLineBytes: c.MaxLineBytes, MaxPods: c.MaxPods, RedactRules: c.RedactRules}
	if mod != nil {
		mod(&o)
	}
	return NewIndex(o)
}

func pod(i int) Resource {
	return Resource{Cluster: "c1", Namespace: "shop", Pod: fmt.Sprintf("checkout-%d", i), Service: "checkout"}
}

func texts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func TestIndexKeepsTheNewestWarningLinesPerPod(t *testing.T) {
	x := defaultIndex(t, nil)
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 8 {
		require.True(t, x.Record(pod(1), t0.Add(time.Duration(i)*time.Second), LevelWarn, fmt.Sprintf("warn %d", i)))
	}
	for _, lv := range []string{"info", "debug", "trace", "unknown", ""} {
		require.False(t, x.Record(pod(1), t0.Add(time.Hour), lv, "not evidence"), lv)
	}
	x.Record(pod(2), t0, LevelError, "other pod")
	got := x.Lookup(Query{Resource: Resource{Cluster: "c1", Namespace: "shop", Pod: "checkout-1"}, Max: 10})
	require.Equal(t, []string{"warn 3", "warn 4", "warn 5", "warn 6", "warn 7"}, texts(got), "the 5 newest, oldest first")
	got = x.Lookup(Query{Resource: Resource{Cluster: "c1", Namespace: "shop", Pod: "checkout-1"}, Max: 2})
	require.Equal(t, []string{"warn 6", "warn 7"}, texts(got))
	got = x.Lookup(Query{Resource: Resource{Cluster: "c1", Namespace: "shop", Pod: "checkout-1"}, Max: 10, Since: t0.Add(6 * time.Second)})
	require.Equal(t, []string{"warn 6", "warn 7"}, texts(got), "lines before Since are left out")
	require.Equal(t, Stats{Pods: 2, Stored: 9}, x.Stats())
}

func TestIndexSelection(t *testing.T) {
	x := defaultIndex(t, nil)
	t0 := time.Unix(1_800_000_000, 0)
	x.Record(Resource{Cluster: "c1", Namespace: "shop", Pod: "a", Service: "checkout"}, t0, LevelWarn, "a")
	x.Record(Resource{Cluster: "c1", Namespace: "shop", Pod: "b", Service: "cart"}, t0.Add(time.Second), LevelError, "b")
	x.Record(Resource{Cluster: "c2", Namespace: "shop", Pod: "a", Service: "checkout"}, t0.Add(2*time.Second), LevelFatal, "c2 a")
	x.Record(Resource{Service: "postgresql", Instance: "10.0.0.1:5432"}, t0, LevelError, "primary")
	x.Record(Resource{Service: "postgresql", Instance: "10.0.0.2:5432"}, t0, LevelError, "replica")
	for _, tc := range []struct {
		name string
		q    Resource
		want []string
	}{
		{"pod in a cluster", Resource{Cluster: "c1", Namespace: "shop", Pod: "a"}, []string{"a"}},
		{"pod decides over a job that is not the service", Resource{Cluster: "c1", Namespace: "shop", Pod: "a", Service: "kubernetes-pods"}, []string{"a"}},
		{"pod in any cluster", Resource{Namespace: "shop", Pod: "a"}, []string{"a", "c2 a"}},
		{"service", Resource{Cluster: "c1", Service: "cart"}, []string{"b"}},
		{"namespace", Resource{Cluster: "c1", Namespace: "shop"}, []string{"a", "b"}},
		{"other namespace", Resource{Cluster: "c1", Namespace: "db"}, nil},
		{"instance decides between two of a service", Resource{Service: "postgresql", Instance: "10.0.0.2:5432"}, []string{"replica"}},
		{"cluster alone is too broad", Resource{Cluster: "c1"}, nil},
		{"nothing", Resource{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := x.Lookup(Query{Resource: tc.q, Max: 10})
			require.Equal(t, tc.want, nilIfEmpty(texts(got)))
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestIndexForgetsTheLeastRecentlyWrittenPod(t *testing.T) {
	x := defaultIndex(t, func(o *IndexOptions) { o.MaxPods = 3 })
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		x.Record(pod(i), t0, LevelWarn, "line")
	}
	x.Record(pod(0), t0, LevelWarn, "pod 0 again: now the most recent")
	x.Record(pod(3), t0, LevelWarn, "a fourth pod")
	has := func(i int) bool { return len(x.Lookup(Query{Resource: pod(i), Max: 5})) > 0 }
	require.True(t, has(0))
	require.False(t, has(1), "pod 1 was the least recently written")
	require.True(t, has(2))
	require.True(t, has(3))
	st := x.Stats()
	require.Equal(t, 3, st.Pods)
	require.Equal(t, int64(1), st.Evicted)
}

func TestIndexCutsLongLinesAtAUTF8Boundary(t *testing.T) {
	x := defaultIndex(t, func(o *IndexOptions) { o.MaxLineBytes = 64 })
	long := strings.Repeat("é", 100) // 2 bytes each
	x.Record(pod(1), time.Now(), LevelWarn, long)
	x.Record(pod(1), time.Now(), LevelWarn, "short")
	got := x.Lookup(Query{Resource: pod(1), Max: 5})
	require.Len(t, got, 2)
	require.LessOrEqual(t, len(got[0].Text), 64)
	require.True(t, utf8.ValidString(got[0].Text))
	require.True(t, strings.HasSuffix(got[0].Text, truncated))
	require.True(t, strings.HasPrefix(long, strings.TrimSuffix(got[0].Text, truncated)))
	require.Equal(t, "short", got[1].Text)
	require.Equal(t, int64(1), x.Stats().Cut)
}

func TestIndexRedactsBeforeStoring(t *testing.T) {
	x := defaultIndex(t, nil)
	const secret = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"
	x.Record(pod(1), time.Now(), LevelError, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"`+secret+`"}}`)
	x.Record(pod(1), time.Now(), LevelError, `E1207 05:00:00 failed to apply secret db: data: {password: `+secret+`}`)
	got := x.Lookup(Query{Resource: pod(1), Max: 5})
	require.Len(t, got, 2)
	for _, l := range got {
		require.NotContains(t, l.Text, secret)
	}
	require.Contains(t, got[0].Text, `"kind":"Secret"`, "a Kubernetes object is redacted, not withheld")
	require.Equal(t, redactprocessor.Withheld, got[1].Text, "a line it cannot redact is withheld")
	require.Equal(t, int64(2), x.Stats().Redacted)
}

func TestIndexConcurrentWritersAndReaders(t *testing.T) {
	x := defaultIndex(t, func(o *IndexOptions) { o.MaxPods = 100 })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				x.Record(pod((w*7+i)%150), time.Now(), LevelWarn, fmt.Sprintf("w%d line %d", w, i))
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for i := range 500 {
				lines := x.Lookup(Query{Resource: pod(i % 150), Max: 5})
				if len(lines) > 5 {
					t.Errorf("%d lines", len(lines))
				}
				_ = x.Lookup(Query{Resource: Resource{Cluster: "c1", Namespace: "shop"}, Max: 5})
			}
		})
	}
	wg.Wait()
	st := x.Stats()
	require.Equal(t, 100, st.Pods)
	require.Equal(t, int64(8000), st.Stored)
	require.Equal(t, int64(8000), st.Stored)
	n := 0
	for e := x.newest; e != nil; e = e.older {
		n++
		require.LessOrEqual(t, len(e.lines), 5)
	}
	require.Equal(t, 100, n, "the LRU list and the map agree")
}

// podMemory fills an index with n pods of full lines (the defaults: 5 lines of 512 bytes) and
// returns the heap it holds per pod.
func podMemory(n int) float64 {
	line := strings.Repeat("x", 2000) // cut to 512 bytes
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	x := NewIndex(IndexOptions{MaxLinesPerPod: 5, MaxLineBytes: 512, MaxPods: 50_000, RedactRules: redactprocessor.DefaultRules()})
	t0 := time.Now()
	for i := range n {
		r := Resource{Cluster: "prod-eu-1", Namespace: fmt.Sprintf("team-%03d", i%300), Pod: fmt.Sprintf("checkout-7d9f8c6b5-%05d", i),
			Service: "checkout", Instance: fmt.Sprintf("checkout-7d9f8c6b5-%05d", i)}
		for j := range 6 {
			x.Record(r, t0.Add(time.Duration(j)), LevelWarn, line)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// The goal of issue 16: at most 16 KiB per active pod at the defaults, measured at 10,000 pods.
func TestIndexMemoryPerPod(t *testing.T) {
	per := podMemory(10_000)
	t.Logf("evidence index: %.0f bytes per pod at 10,000 pods (5 lines of 512 bytes each)", per)
	require.Less(t, per, 16.0*1024)
	require.Greater(t, per, 5*512.0, "the lines themselves are held")
}

func BenchmarkIndexMemoryPerPod(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(podMemory(10_000), "bytes/pod")
	}
}

func BenchmarkIndexRecord(b *testing.B) {
	x := defaultIndex(b, nil)
	line := `level=warn ts=2026-12-07T02:50:02Z caller=pay.go:42 msg="card declined" order=42`
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	i := 0
	for b.Loop() {
		x.Record(pod(i%10_000), time.Now(), LevelWarn, line)
		i++
	}
}

func BenchmarkIndexLookup(b *testing.B) {
	x := defaultIndex(b, nil)
	for i := range 50_000 {
		x.Record(pod(i), time.Now(), LevelWarn, "line")
	}
	b.ReportAllocs()
	for b.Loop() {
		x.Lookup(Query{Resource: pod(25_000), Max: 5})
	}
}

// A huge line costs bounded work, and a secret past the bound in a cut JSON object is not stored.
func TestIndexHugeLines(t *testing.T) {
	x := defaultIndex(t, nil)
	const secret = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"
	huge := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","annotations":{"pad":"` + strings.Repeat("x", 1<<20) +
		`"}},"data":{"password":"` + secret + `"}}`
	x.Record(pod(1), time.Now(), LevelError, huge)
	x.Record(pod(1), time.Now(), LevelError, "plain "+strings.Repeat("y", 1<<20))
	got := x.Lookup(Query{Resource: pod(1), Max: 5})
	require.Len(t, got, 2)
	for _, l := range got {
		require.NotContains(t, l.Text, secret)
		require.LessOrEqual(t, len(l.Text), 512)
	}
	require.True(t, strings.HasPrefix(got[1].Text, "plain yyy"))
}
