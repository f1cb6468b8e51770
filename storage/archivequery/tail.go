package archivequery

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/vigil-obs/vigil/storage/archive"
)

// TailCursor remembers, per archive stream, the last manifest entry a tail has read. The zero
// value starts a tail.
type TailCursor struct {
	seqs map[string]uint64 // stream manifest prefix → last sequence read
}

// Tail returns the matching events of the objects archived since the cursor's last call (on the
// first call: of the objects holding events at or after from), oldest first, and moves the
// cursor. Events arrive as the archive exporter uploads objects, so a tail follows the archive
// with the exporter's flush delay. Problems of the archive are in Stats.Problems: of the hash
// chain from from on at the first call, of the objects read at every call.
func (e *Engine) Tail(ctx context.Context, expr string, from time.Time, cur *TailCursor) ([]Result, Stats, error) {
	sel, err := Parse(expr)
	if err != nil {
		return nil, Stats{}, err
	}
	var st Stats
	first := cur.seqs == nil
	if first {
		cur.seqs = map[string]uint64{}
	}
	streams, err := archive.Streams(ctx, e.Bucket)
	if err != nil {
		return nil, st, err
	}
	q := Query{Expr: expr, From: from, Forward: true}
	var cands []candidate
	for _, s := range streams {
		if !streamMatches(s, sel.Matchers()) {
			continue
		}
		st.Streams++
		chain, err := e.Manifests.Chain(ctx, e.Bucket, s)
		if err != nil {
			return nil, st, err
		}
		key := s.ManifestName(0)
		last, seen := cur.seqs[key]
		if first {
			st.Problems = append(st.Problems, chain.Check(chain.Span(from, time.Time{}))...)
		}
		for _, en := range chain.Entries {
			if en.Seq <= last && seen {
				continue
			}
			cur.seqs[key] = max(cur.seqs[key], en.Seq)
			if !en.Overlaps(from, time.Time{}) {
				continue
			}
			f, _ := time.Parse(time.RFC3339Nano, en.First)
			l, _ := time.Parse(time.RFC3339Nano, en.Last)
			cands = append(cands, candidate{stream: s, chain: &chain, entry: en, from: f, to: l})
		}
		if _, ok := cur.seqs[key]; !ok {
			cur.seqs[key] = 0 // an empty stream: every entry it gets is new
		}
	}
	var out []Result
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		rs, sc := e.scan(ctx, sel, c, q)
		if sc.err != nil {
			var oe *archive.ObjectError
			if !errors.As(sc.err, &oe) {
				return nil, st, sc.err
			}
			st.Problems = append(st.Problems, objectProblem(oe.Problem, c.chain))
		}
		st.Objects++
		st.Events += sc.events
		st.RawBytes += sc.rawBytes
		out = append(out, rs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	sortProblems(st.Problems)
	return out, st, nil
}
