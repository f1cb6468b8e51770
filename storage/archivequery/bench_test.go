package archivequery

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// benchArchive archives n realistic events (about 1 KB each) in objects of per events.
func benchArchive(b *testing.B, n, per int) (*Engine, int64) {
	b.Helper()
	bkt, err := archive.NewFilesystemBucket(b.TempDir())
	require.NoError(b, err)
	g := audittest.NewGenerator(audittest.T0, 200, 50)
	s := archive.Stream{Tenant: "default", Cluster: "bench"}
	var prev *archive.Entry
	var raw int64
	for done := 0; done < n; done += per {
		first := g.Time()
		events := make([][]byte, per)
		for i := range events {
			events[i] = g.Next()
			raw += int64(len(events[i]) + 1)
		}
		e, err := archive.Append(context.Background(), bkt, s, prev, first, g.Time(), events)
		require.NoError(b, err)
		prev = &e
	}
	return &Engine{Bucket: bkt, Workers: 1}, raw
}

// BenchmarkFullScan: a query that must read every event (a line filter that matches nothing),
// on one core; MB/s is decompressed audit JSON scanned per second of wall time, MB/cpu-s per
// second of the process's CPU time (all threads, GC included), which other processes on a shared
// machine disturb less.
func BenchmarkFullScan(b *testing.B) {
	for _, q := range []string{`{cluster="bench"} |= "no such text"`, `{cluster="bench", user!~"system:.*|person-.*"}`, `{cluster="bench"} | json | verb="no-such-verb"`, `{cluster="bench"} | json | responseStatus_code >= 600`} {
		b.Run(q, func(b *testing.B) {
			eng, raw := benchArchive(b, 40000, 10000)
			b.SetBytes(raw)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, cpuOK := cpuTime()
			n := 0
			for b.Loop() {
				rs, st, err := eng.Run(context.Background(), Query{Expr: q})
				require.NoError(b, err)
				require.Empty(b, rs)
				require.Equal(b, int64(40000), st.Events)
				n++
			}
			if cpu1, ok := cpuTime(); cpuOK && ok && cpu1 > cpu0 {
				b.ReportMetric(float64(raw)*float64(n)/(cpu1-cpu0).Seconds()/1e6, "MB/cpu-s")
			}
		})
	}
}

// BenchmarkSelectiveQuery: one person's events; the index skips the objects without them.
func BenchmarkSelectiveQuery(b *testing.B) {
	eng, _ := benchArchive(b, 100000, 5000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, st, err := eng.Run(context.Background(), Query{Expr: `{user="person-007"}`})
		require.NoError(b, err)
		require.NotEmpty(b, rs)
		b.ReportMetric(float64(st.Objects), "objects-opened")
	}
}

// BenchmarkExportAll: every event of 100 objects without a limit, as `vigil archive export`
// reads a whole range; the results are sorted by time once.
func BenchmarkExportAll(b *testing.B) {
	eng, raw := benchArchive(b, 100000, 1000)
	eng.Workers = 2
	b.SetBytes(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, _, err := eng.Run(context.Background(), Query{Expr: `{cluster="bench"}`})
		require.NoError(b, err)
		require.Len(b, rs, 100000)
	}
}

// BenchmarkPrefilter: the raw-line prefilter alone on realistic events (no decompression, no
// pipeline): two queries none of whose events match, one all of whose events match (where the
// numeric filter switches itself off after its trial).
func BenchmarkPrefilter(b *testing.B) {
	g := audittest.NewGenerator(audittest.T0, 200, 50)
	lines := make([][]byte, 10000)
	var raw int64
	for i := range lines {
		lines[i] = g.Next()
		raw += int64(len(lines[i]) + 1)
	}
	for _, tc := range []struct {
		query string
		pass  bool
	}{
		{`{cluster="bench"} | json | verb="no-such-verb"`, false},
		{`{cluster="bench"} | json | responseStatus_code >= 600`, false},
		{`{cluster="bench"} | json | responseStatus_code == 200`, true},
	} {
		b.Run(tc.query, func(b *testing.B) {
			sel, err := Parse(tc.query)
			require.NoError(b, err)
			pf, err := newPrefilter(sel)
			require.NoError(b, err)
			b.SetBytes(raw)
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					if pf.passes(l) != tc.pass {
						b.Fatalf("%s: passes is %v for %s", tc.query, !tc.pass, l)
					}
				}
			}
		})
	}
}
