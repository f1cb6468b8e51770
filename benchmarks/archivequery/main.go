// Command archivequery measures queries over a large audit archive: it builds (once, or reuses)
// a filesystem archive of -events realistic audit events spread over -days days and -clusters
// clusters, then times a selective query (one person over one day) and full scans, printing the
// figures and the command that produced them.
//
//	go run ./benchmarks/archivequery -events 10000000 -dir /tmp/vigil-archive-10m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

func main() {
	events := flag.Int("events", 10_000_000, "events in the archive")
	days := flag.Int("days", 30, "days the events span")
	clusters := flag.Int("clusters", 4, "clusters (streams)")
	perObject := flag.Int("per-object", 16000, "events per archive object (about 16 MiB of JSON, the exporter's default)")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "vigil-archive-bench"), "archive directory (reused when it holds the same number of events)")
	flag.Parse()
	fmt.Printf("command: go run ./benchmarks/archivequery -events %d -days %d -clusters %d -per-object %d -dir %s\n", *events, *days, *clusters, *perObject, *dir)
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if err := run(*events, *days, *clusters, *perObject, *dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(events, days, clusters, perObject int, dir string) error {
	bkt, err := archive.NewFilesystemBucket(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	marker := filepath.Join(dir, fmt.Sprintf("built-%d-%d-%d-%d", events, days, clusters, perObject))
	if _, err := os.Stat(marker); err != nil {
		if err := build(ctx, bkt, events, days, clusters, perObject); err != nil {
			return err
		}
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			return err
		}
	} else {
		fmt.Println("reusing the archive in", dir)
	}
	day := audittest.T0.Add(10 * 24 * time.Hour).Truncate(24 * time.Hour)
	queries := []struct {
		name     string
		q        archivequery.Query
		workers  int
		scanRate bool
	}{
		{"selective: one person over one day", archivequery.Query{Expr: `{user="person-042"}`, From: day, To: day.Add(24 * time.Hour)}, 0, false},
		{"selective: one person over the whole archive", archivequery.Query{Expr: `{user="person-042"}`}, 0, false},
		{"full scan of one day, line filter, 1 core", archivequery.Query{Expr: `{cluster=~".+"} |= "no such text"`, From: day, To: day.Add(24 * time.Hour)}, 1, true},
		{"full scan of one day, | json | verb=, 1 core", archivequery.Query{Expr: `{cluster=~".+"} | json | verb="no-such-verb"`, From: day, To: day.Add(24 * time.Hour)}, 1, true},
		{"full scan of one day, | json | code>=, 1 core", archivequery.Query{Expr: `{cluster=~".+"} | json | responseStatus_code >= 600`, From: day, To: day.Add(24 * time.Hour)}, 1, true},
	}
	for _, q := range queries {
		eng := &archivequery.Engine{Bucket: bkt, Workers: q.workers}
		start := time.Now()
		rs, st, err := eng.Run(ctx, q.q)
		if err != nil {
			return err
		}
		took := time.Since(start)
		line := fmt.Sprintf("%-48s %8.3f s  %6d results  %5d objects opened, %5d skipped, %10d events scanned", q.name, took.Seconds(), len(rs), st.Objects, st.ObjectsSkipped, st.Events)
		if q.scanRate {
			line += fmt.Sprintf("  %.0f MB/s decompressed per core", float64(st.RawBytes)/1e6/took.Seconds())
		}
		fmt.Println(line)
	}
	return nil
}

func build(ctx context.Context, bkt *archive.FilesystemBucket, events, days, clusters, perObject int) error {
	start := time.Now()
	span := time.Duration(days) * 24 * time.Hour
	perCluster := events / clusters
	var raw, stored int64
	for c := range clusters {
		g := audittest.NewGenerator(audittest.T0, 500, 100)
		g.Step = span / time.Duration(perCluster)
		s := archive.Stream{Tenant: "default", Cluster: fmt.Sprintf("cluster-%d", c)}
		var prev *archive.Entry
		for done := 0; done < perCluster; done += perObject {
			batch := make([][]byte, min(perObject, perCluster-done))
			first := g.Time()
			for i := range batch {
				batch[i] = g.Next()
				raw += int64(len(batch[i]) + 1)
			}
			e, err := archive.Append(ctx, bkt, s, prev, first, g.Time(), batch)
			if err != nil {
				return err
			}
			stored += e.Size
			prev = &e
		}
		fmt.Printf("built %s: %d events\n", s.Cluster, perCluster)
	}
	fmt.Printf("archive: %d events, %.1f GB of JSON in %.2f GB (%.1fx), built in %s\n", events, float64(raw)/1e9, float64(stored)/1e9,
		float64(raw)/float64(stored), time.Since(start).Round(time.Second))
	return nil
}
