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
	// Problems are what the query found wrong with the archive where it read: the hash chain of
	// the manifest entries covering the time range (gaps, unreadable, modified or unlinked
	// entries, a cut-off tail) and the objects and indexes it opened (missing, modified,
	// reordered). Results come from intact objects only; with problems they may be incomplete.
	Problems []archive.Problem `json:"problems,omitempty"`
}

// Intact reports whether the query found nothing wrong with the archive.
func (s Stats) Intact() bool { return len(s.Problems) == 0 }

// Engine runs queries over an archive bucket.
type Engine struct {
	Bucket objstore.Bucket
	// Workers decode objects in parallel (default GOMAXPROCS).
	Workers int
	// Progress, when set, is told the objects planned and each one scanned.
	Progress archive.Progress
	// Warn, when set, receives notes that do not stop the query (an index that cannot be read,
	// so its object is scanned). What is wrong with the archive is in Stats.Problems.
	Warn func(error)
	// Manifests, when set, keeps the manifest entries read, so that repeated queries (the read
	// API) fetch only new entries; nil reads every entry on every query.
	Manifests *archive.ManifestCache
}

// ParseError is a LogQL syntax error, with the parser's message and position.
type ParseError struct{ Err error }

func (e ParseError) Error() string { return "cannot parse the LogQL query: " + e.Err.Error() }
func (e ParseError) Unwrap() error { return e.Err }

// errNotALogQuery is wrapped by the ParseError of an expression that parses but is not a log query.
var errNotALogQuery = errors.New("not a log query")

// Parse checks a LogQL log query: a stream selector, optionally followed by a pipeline, whose
// pipeline can be built. Everything else is a ParseError: syntax errors, metric queries (see
// ParseMetric),
// expressions that LogQL accepts where a log query may stand but that select no stream (literals
// and their comparisons such as 1 > 2, vector(0)), and pipelines that cannot be compiled (a
// regexp RE2 refuses, such as a repeat count over 1000; an unknown line_format function).
func Parse(expr string) (syntax.LogSelectorExpr, error) {
	sel, err := syntax.ParseLogSelector(expr, true)
	if err != nil && IsMetric(expr) {
		return nil, ParseError{fmt.Errorf("%w: %q is a metric query (answered by vigil archive query and the query API); this takes a log query, a stream selector and an optional pipeline, e.g. {cluster=\"prod\"} |= \"alice\"",
			errNotALogQuery, expr)}
	}
	if err != nil {
		return nil, ParseError{err}
	}
	switch sel.(type) {
	case *syntax.MatchersExpr, *syntax.PipelineExpr:
	default:
		return nil, ParseError{fmt.Errorf("%w: %q selects no stream; the archive answers log queries only, a stream selector and an optional pipeline, e.g. {cluster=\"prod\"} |= \"alice\"",
			errNotALogQuery, expr)}
	}
	if _, err := sel.Pipeline(); err != nil {
		return nil, ParseError{fmt.Errorf("cannot build the pipeline: %w", err)}
	}
	if _, err := newPrefilter(sel); err != nil {
		return nil, ParseError{err}
	}
	return sel, nil
}

type candidate struct {
	stream archive.Stream
	chain  *archive.Chain // the stream's manifest
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
				var oe *archive.ObjectError
				if !errors.As(scans[i].err, &oe) {
					return nil, st, scans[i].err
				}
				st.Problems = append(st.Problems, objectProblem(oe.Problem, batch[i].chain))
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
	sortProblems(st.Problems)
	return results, st, nil
}

// objectProblem names an object holding another entry's bytes as reordered, as Verify does.
func objectProblem(p archive.Problem, chain *archive.Chain) archive.Problem {
	if p.Kind == archive.ProblemModified {
		for _, en := range chain.Entries {
			if en.SHA256 == p.Actual && en.Seq != p.Seq {
				p.Kind = archive.ProblemReordered
				break
			}
		}
	}
	return p
}

func sortProblems(ps []archive.Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Manifest != ps[j].Manifest {
			return ps[i].Manifest < ps[j].Manifest
		}
		return ps[i].Seq < ps[j].Seq
	})
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

// order sorts results (newest first, or oldest first with Forward; ties by object and line order),
// reports each event once (dedup) and cuts them to the limit.
func order(results []Result, q Query) []Result {
	sort.SliceStable(results, func(i, j int) bool {
		if q.Forward {
			return results[i].Time.Before(results[j].Time)
		}
		return results[i].Time.After(results[j].Time)
	})
	results = dedup(results)
	if q.Limit > 0 && len(results) > q.Limit {
		results = results[:q.Limit:q.Limit]
	}
	return results
}

// plan lists the objects that can match: streams whose tenant and cluster match the selector,
// entries whose time range overlaps the query's. It checks the hash chain of the manifest entries
// that cover the time range (from the last entry before it to the first after it) and adds what
// is wrong to st.Problems.
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
		chain, err := e.Manifests.Chain(ctx, e.Bucket, s)
		if err != nil {
			return nil, err
		}
		to := q.To
		if !to.IsZero() {
			to = to.Add(-time.Nanosecond) // To is exclusive
		}
		st.Problems = append(st.Problems, chain.Check(chain.Span(q.From, to))...)
		for _, en := range chain.Entries {
			if !en.Overlaps(q.From, to) {
				st.ObjectsSkipped++
				continue
			}
			first, _ := time.Parse(time.RFC3339Nano, en.First)
			last, _ := time.Parse(time.RFC3339Nano, en.Last)
			out = append(out, candidate{stream: s, chain: &chain, entry: en, from: first, to: last})
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
	_, events, err := archive.ReadObjectOf(ctx, e.Bucket, c.stream, c.entry)
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
	for _, p := range st.Problems {
		e.warn(fmt.Errorf("the archive is not intact: %s (run vigil archive verify)", p))
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
			if idx, err := readIndex(ctx, e, c.stream, c.entry); err == nil {
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
