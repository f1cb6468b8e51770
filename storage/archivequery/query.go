package archivequery

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/vigil-obs/vigil/storage/archive"
)

// Query is a LogQL log query over a time range.
type Query struct {
	Expr     string    // a LogQL log query: selector and pipeline, e.g. {cluster="a"} |= "alice"
	From, To time.Time // [From, To); zero is open
	Limit    int       // at most this many results (0: no limit)
	Forward  bool      // oldest first; default newest first, as Loki
}

// Result is one matching event.
type Result struct {
	Time   time.Time
	Labels labels.Labels  // stream labels
	Parsed labels.Labels  // all labels after the pipeline (stream, extracted, formatted)
	Line   string         // the line after the pipeline (line_format changes it)
	Raw    []byte         // the event as archived
	Source *archive.Entry // the manifest entry of the archive object it came from
}

// Stats describe the work a query did.
type Stats struct {
	Streams        int   `json:"streams"`
	Objects        int   `json:"objects"`         // objects opened
	ObjectsSkipped int   `json:"objects_skipped"` // objects that could not match (time range, index)
	Bytes          int64 `json:"bytes"`           // compressed bytes read
	RawBytes       int64 `json:"raw_bytes"`       // decompressed bytes scanned
	Events         int64 `json:"events"`          // events scanned
}

// Engine runs queries over an archive bucket.
type Engine struct {
	Bucket objstore.Bucket
	// Workers decode objects in parallel (default GOMAXPROCS).
	Workers int
	// Progress, when set, is told the objects planned and each one scanned.
	Progress archive.Progress
	// Warn, when set, receives problems that do not stop the query (an object that does not match
	// its manifest entry is skipped and reported: run vigil archive verify).
	Warn func(error)
	// Manifests, when set, keeps the manifest entries read, so that repeated queries (the read
	// API) fetch only new entries; nil reads every entry on every query.
	Manifests *archive.ManifestCache
}

// ParseError is a LogQL syntax error, with the parser's message and position.
type ParseError struct{ Err error }

func (e ParseError) Error() string { return "cannot parse the LogQL query: " + e.Err.Error() }
func (e ParseError) Unwrap() error { return e.Err }

// Parse checks a LogQL log query.
func Parse(expr string) (syntax.LogSelectorExpr, error) {
	sel, err := syntax.ParseLogSelector(expr, true)
	if err != nil {
		return nil, ParseError{err}
	}
	return sel, nil
}

type candidate struct {
	stream archive.Stream
	entry  archive.Entry
	from   time.Time // manifest time range of the object
	to     time.Time
}

// Run answers q: the matching events, newest first (or oldest first with Forward), at most Limit.
func (e *Engine) Run(ctx context.Context, q Query) ([]Result, Stats, error) {
	sel, err := Parse(q.Expr)
	if err != nil {
		return nil, Stats{}, err
	}
	var st Stats
	cands, err := e.plan(ctx, sel.Matchers(), q, &st)
	if err != nil {
		return nil, st, err
	}
	cands = e.prune(ctx, cands, sel.Matchers(), &st)
	// Newest objects first for a backward query (oldest first forward), so that a limited query
	// can stop as soon as no remaining object can hold a better result.
	sort.Slice(cands, func(i, j int) bool {
		if q.Forward {
			return cands[i].from.Before(cands[j].from)
		}
		return cands[i].to.After(cands[j].to)
	})
	var total int64
	for _, c := range cands {
		total += c.entry.Size
	}
	workers := e.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if e.Progress != nil {
		e.Progress.Plan(len(cands), total)
	}
	var results []Result
	for start := 0; start < len(cands); start += workers {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		if q.Limit > 0 && len(results) >= q.Limit && !canImprove(cands[start], results, q) {
			break
		}
		batch := cands[start:min(start+workers, len(cands))]
		out := make([][]Result, len(batch))
		scans := make([]scanStats, len(batch))
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() {
				out[i], scans[i] = e.scan(ctx, sel, batch[i], q)
			})
		}
		wg.Wait()
		for i := range batch {
			if scans[i].err != nil {
				if !errors.Is(scans[i].err, archive.ErrMismatch) {
					return nil, st, scans[i].err
				}
				e.warn(scans[i].err)
			}
			results = append(results, out[i]...)
			st.Objects++
			st.Bytes += batch[i].entry.Size
			st.RawBytes += scans[i].rawBytes
			st.Events += scans[i].events
			if e.Progress != nil {
				e.Progress.Done(batch[i].entry.Size)
			}
		}
		if q.Limit > 0 { // keep the best Limit so far: whether to go on depends on the worst of them
			results = order(results, q)
		}
	}
	if q.Limit <= 0 { // everything: sorted once (an export can hold millions of events)
		results = order(results, q)
	}
	st.ObjectsSkipped += len(cands) - st.Objects
	return results, st, nil
}

func (e *Engine) warn(err error) {
	if e.Warn != nil {
		e.Warn(err)
	}
}

// canImprove reports whether object c can hold a result that beats the worst of a full result set.
func canImprove(c candidate, results []Result, q Query) bool {
	worst := results[len(results)-1].Time
	if q.Forward {
		return !c.from.After(worst)
	}
	return !c.to.Before(worst)
}

// order sorts results (newest first, or oldest first with Forward; ties by object and line order)
// and cuts them to the limit.
func order(results []Result, q Query) []Result {
	sort.SliceStable(results, func(i, j int) bool {
		if q.Forward {
			return results[i].Time.Before(results[j].Time)
		}
		return results[i].Time.After(results[j].Time)
	})
	if q.Limit > 0 && len(results) > q.Limit {
		results = results[:q.Limit:q.Limit]
	}
	return results
}

// plan lists the objects that can match: streams whose tenant and cluster match the selector,
// entries whose time range overlaps the query's.
func (e *Engine) plan(ctx context.Context, matchers []*labels.Matcher, q Query, st *Stats) ([]candidate, error) {
	streams, err := archive.Streams(ctx, e.Bucket)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, s := range streams {
		if !streamMatches(s, matchers) {
			continue
		}
		st.Streams++
		entries, err := e.Manifests.Manifest(ctx, e.Bucket, s)
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			to := q.To
			if !to.IsZero() {
				to = to.Add(-time.Nanosecond) // To is exclusive
			}
			if !en.Overlaps(q.From, to) {
				st.ObjectsSkipped++
				continue
			}
			first, _ := time.Parse(time.RFC3339Nano, en.First)
			last, _ := time.Parse(time.RFC3339Nano, en.Last)
			out = append(out, candidate{stream: s, entry: en, from: first, to: last})
		}
	}
	return out, nil
}

// streamMatches applies the matchers on tenant and cluster, known before opening any object.
func streamMatches(s archive.Stream, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		switch m.Name {
		case LabelTenant:
			if !m.Matches(s.Tenant) {
				return false
			}
		case LabelCluster:
			if !m.Matches(s.Cluster) {
				return false
			}
		}
	}
	return true
}

type scanStats struct {
	events   int64
	rawBytes int64
	err      error
}

// scan reads one object and runs every event through the selector and the pipeline.
func (e *Engine) scan(ctx context.Context, sel syntax.LogSelectorExpr, c candidate, q Query) ([]Result, scanStats) {
	var st scanStats
	_, events, err := archive.ReadObject(ctx, e.Bucket, c.entry)
	if err != nil {
		st.err = err
		return nil, st
	}
	pipeline, err := sel.Pipeline()
	if err != nil {
		st.err = fmt.Errorf("cannot build the LogQL pipeline: %w", err)
		return nil, st
	}
	prefilter, err := newPrefilter(sel)
	if err != nil {
		st.err = err
		return nil, st
	}
	matchers := sel.Matchers()
	var out []Result
	source := &c.entry
	for _, line := range events {
		st.events++
		st.rawBytes += int64(len(line)) + 1
		if !prefilter.passes(line) {
			continue
		}
		lbls, ts := parseEvent(c.stream, line, c.from)
		if (!q.From.IsZero() && ts.Before(q.From)) || (!q.To.IsZero() && !ts.Before(q.To)) {
			continue
		}
		if !matchesAll(lbls, matchers) {
			continue
		}
		newLine, res, ok := pipeline.ForStream(lbls).Process(ts.UnixNano(), line, labels.EmptyLabels())
		if !ok {
			continue
		}
		out = append(out, Result{Time: ts, Labels: lbls, Parsed: res.Labels(), Line: string(newLine),
			Raw: line, Source: source})
	}
	return order(out, q), st
}

func matchesAll(lbls labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lbls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// LabelValues returns the distinct values of a label in [from, to), sorted: tenant and cluster
// from the bucket's streams, the others from the objects' indexes, scanning the objects whose
// index does not list them. At most limit values (0: no limit).
func (e *Engine) LabelValues(ctx context.Context, name string, from, to time.Time, limit int) ([]string, error) {
	set := map[string]struct{}{}
	var st Stats
	cands, err := e.plan(ctx, nil, Query{From: from, To: to}, &st)
	if err != nil {
		return nil, err
	}
	var scan []candidate
	for _, c := range cands {
		switch name {
		case LabelTenant:
			set[c.stream.Tenant] = struct{}{}
			continue
		case LabelCluster:
			set[c.stream.Cluster] = struct{}{}
			continue
		}
		if c.entry.Index != "" {
			if idx, err := readIndex(ctx, e, c.entry); err == nil {
				if vals, ok := idx.Labels[name]; ok {
					for _, v := range vals {
						set[v] = struct{}{}
					}
					continue
				}
			} else {
				e.warn(err)
			}
		}
		scan = append(scan, c)
	}
	for _, c := range scan {
		if limit > 0 && len(set) > limit {
			break
		}
		_, events, err := archive.ReadObject(ctx, e.Bucket, c.entry)
		if err != nil {
			e.warn(err)
			continue
		}
		for _, line := range events {
			lbls, ts := parseEvent(c.stream, line, c.from)
			if (from.IsZero() || !ts.Before(from)) && (to.IsZero() || ts.Before(to)) {
				set[lbls.Get(name)] = struct{}{}
			}
		}
	}
	delete(set, "")
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
