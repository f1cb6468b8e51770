package archivequery

import (
	"context"
	"errors"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/storage/archive"
)

// MaxVolumeGroups bounds the (stream, bucket) groups a Volumes call keeps in memory.
const MaxVolumeGroups = 1 << 20

// StreamVolume is what a selector matches of one stream (one label set) in one time bucket.
type StreamVolume struct {
	Labels  labels.Labels
	Bucket  time.Time // the bucket (see Volumes); zero without buckets
	Entries int64     // events
	Bytes   int64     // bytes of their lines, as archived
}

// IndexStats are the totals of Loki's /index/stats: distinct streams, archive objects holding
// matching events (Loki's chunks), events and their bytes.
type IndexStats struct {
	Streams int64 `json:"streams"`
	Chunks  int64 `json:"chunks"`
	Bytes   int64 `json:"bytes"`
	Entries int64 `json:"entries"`
}

// Volumes scans the events in [from, to) whose stream labels match matchers and adds them up per
// stream and per bucket(event time) (bucket nil: one bucket). Problems of the archive are in
// Stats.Problems, as for Run; the volumes then count the intact objects only. More than
// MaxVolumeGroups groups is a LimitError.
func (e *Engine) Volumes(ctx context.Context, matchers []*labels.Matcher, from, to time.Time, bucket func(time.Time) time.Time) ([]StreamVolume, IndexStats, Stats, error) {
	var st Stats
	q := Query{From: from, To: to}
	cands, err := e.plan(ctx, matchers, q, &st)
	if err != nil {
		return nil, IndexStats{}, st, err
	}
	cands = e.prune(ctx, cands, matchers, &st)
	type key struct {
		stream uint64
		bucket int64
	}
	groups := map[key]*StreamVolume{}
	streams := map[uint64]struct{}{}
	var is IndexStats
	var mu sync.Mutex
	var tooMany bool
	workers := e.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for start := 0; start < len(cands); start += workers {
		if err := ctx.Err(); err != nil {
			return nil, is, st, err
		}
		batch := cands[start:min(start+workers, len(cands))]
		scans := make([]scanStats, len(batch))
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() {
				c := batch[i]
				_, events, err := archive.ReadObjectOf(ctx, e.Bucket, c.stream, c.entry)
				if err != nil {
					scans[i].err = err
					return
				}
				local := map[key]*StreamVolume{}
				for _, line := range events {
					scans[i].events++
					scans[i].rawBytes += int64(len(line)) + 1
					lbls, ts := parseEvent(c.stream, line, c.from)
					if (!from.IsZero() && ts.Before(from)) || (!to.IsZero() && !ts.Before(to)) || !matchesAll(lbls, matchers) {
						continue
					}
					k := key{stream: lbls.Hash()}
					var b time.Time
					if bucket != nil {
						b = bucket(ts)
						k.bucket = b.UnixNano()
					}
					v, ok := local[k]
					if !ok {
						v = &StreamVolume{Labels: lbls, Bucket: b}
						local[k] = v
					}
					v.Entries++
					v.Bytes += int64(len(line))
				}
				mu.Lock()
				defer mu.Unlock()
				if len(local) > 0 {
					is.Chunks++
				}
				for k, v := range local {
					streams[k.stream] = struct{}{}
					is.Entries += v.Entries
					is.Bytes += v.Bytes
					g, ok := groups[k]
					if !ok {
						if len(groups) >= MaxVolumeGroups {
							tooMany = true
							continue
						}
						groups[k] = v
						continue
					}
					g.Entries += v.Entries
					g.Bytes += v.Bytes
				}
			})
		}
		wg.Wait()
		if tooMany {
			return nil, is, st, &LimitError{What: "stream label sets × steps", Limit: MaxVolumeGroups, Setting: "narrow the selector, the range or the step"}
		}
		for i := range batch {
			if scans[i].err != nil {
				var oe *archive.ObjectError
				if !errors.As(scans[i].err, &oe) {
					return nil, is, st, scans[i].err
				}
				st.Problems = append(st.Problems, objectProblem(oe.Problem, batch[i].chain))
			}
			st.Objects++
			st.Bytes += batch[i].entry.Size
			st.RawBytes += scans[i].rawBytes
			st.Events += scans[i].events
		}
	}
	is.Streams = int64(len(streams))
	sortProblems(st.Problems)
	out := make([]StreamVolume, 0, len(groups))
	for _, v := range groups {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Bucket.Equal(out[j].Bucket) {
			return out[i].Bucket.Before(out[j].Bucket)
		}
		return labels.Compare(out[i].Labels, out[j].Labels) < 0
	})
	return out, is, st, nil
}
