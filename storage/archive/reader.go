package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/thanos-io/objstore"
)

// Streams lists the streams in the bucket, sorted: every audit/<tenant>/<cluster>/ that holds
// more than the writers' directory (the stream without writer), and every
// audit/<tenant>/<cluster>/writers/<writer>/.
func Streams(ctx context.Context, bkt objstore.Bucket) ([]Stream, error) {
	var out []Stream
	tenants, err := dirs(ctx, bkt, "audit/")
	if err != nil {
		return nil, err
	}
	for _, tenant := range tenants {
		clusters, err := dirs(ctx, bkt, "audit/"+tenant+"/")
		if err != nil {
			return nil, err
		}
		for _, cluster := range clusters {
			s := Stream{Tenant: tenant, Cluster: cluster}
			legacy, writers := false, false
			err := bkt.Iter(ctx, s.ClusterPrefix(), func(name string) error {
				if name == s.ClusterPrefix()+WritersDir+"/" {
					writers = true
				} else {
					legacy = true
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("cannot list %s in the archive: %w", s.ClusterPrefix(), err)
			}
			if legacy || !writers {
				out = append(out, s)
			}
			if !writers {
				continue
			}
			names, err := dirs(ctx, bkt, s.ClusterPrefix()+WritersDir+"/")
			if err != nil {
				return nil, err
			}
			for _, w := range names {
				out = append(out, Stream{Tenant: tenant, Cluster: cluster, Writer: w})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].Writer < out[j].Writer
	})
	return out, nil
}

// dirs lists the directory names directly under prefix.
func dirs(ctx context.Context, bkt objstore.Bucket, prefix string) ([]string, error) {
	var out []string
	err := bkt.Iter(ctx, prefix, func(name string) error {
		if strings.HasSuffix(name, "/") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(name, prefix), "/"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list %s in the archive: %w", prefix, err)
	}
	return out, nil
}

// Manifest reads the stream's manifest entries, in seq order. Entries that cannot be read are
// left out (Verify reports them; ManifestCache.Chain returns them).
func Manifest(ctx context.Context, bkt objstore.Bucket, s Stream) ([]Entry, error) {
	return (*ManifestCache)(nil).Manifest(ctx, bkt, s)
}

// ManifestCache remembers manifest entries already read. Entries are written once and never
// changed, so a long-running reader (the read API) lists the manifest on each query but fetches
// only the entries it has not seen. A nil *ManifestCache reads everything.
type ManifestCache struct {
	mu      sync.Mutex
	entries map[string]Entry // by object name
}

// Manifest is the package's Manifest through the cache.
func (c *ManifestCache) Manifest(ctx context.Context, bkt objstore.Bucket, s Stream) ([]Entry, error) {
	ch, err := c.Chain(ctx, bkt, s)
	return ch.Entries, err
}

// Chain is a stream's manifest as a reader found it: what Check needs to tell whether a part of
// the hash chain is intact, without reading any object.
type Chain struct {
	Stream     Stream
	Entries    []Entry   // the entries that could be read, in seq order
	Unreadable []Problem // manifest_unreadable: entries that are there but cannot be read
	// LastSeal is the highest entry seq a seal of the stream names (0: no seal); a seal naming
	// an entry after the last one shows that entries were cut off.
	LastSeal uint64
	bySeq    map[uint64]Entry
}

// Chain reads the stream's manifest through the cache, and lists its seals.
func (c *ManifestCache) Chain(ctx context.Context, bkt objstore.Bucket, s Stream) (Chain, error) {
	bySeq, unreadable, _, err := readManifest(ctx, bkt, s, c)
	if err != nil {
		return Chain{}, err
	}
	ch := Chain{Stream: s, Unreadable: unreadable, bySeq: bySeq, Entries: make([]Entry, 0, len(bySeq))}
	for _, e := range bySeq {
		ch.Entries = append(ch.Entries, e)
	}
	sort.Slice(ch.Entries, func(i, j int) bool { return ch.Entries[i].Seq < ch.Entries[j].Seq })
	err = bkt.Iter(ctx, s.Prefix()+"seals/", func(name string) error {
		if seq, ok := parseSeq(name); ok {
			ch.LastSeal = max(ch.LastSeal, seq)
		}
		return nil
	})
	if err != nil {
		return Chain{}, fmt.Errorf("cannot list the seals of %s: %w", s.Prefix(), err)
	}
	return ch, nil
}

// Check returns what is wrong with the chain from entry lo to entry hi (inclusive; hi 0: to the
// end): the chain problems of CheckChain, the unreadable entries in that span, and, when it
// reaches the end, a seal that names an entry after the last one (truncated). A query checks the
// span from the last entry before its time range to the first entry after it (see Span).
func (ch Chain) Check(lo, hi uint64) []Problem {
	last := uint64(0)
	if n := len(ch.Entries); n > 0 {
		last = ch.Entries[n-1].Seq
	}
	toEnd := hi == 0 || hi >= last
	if toEnd {
		hi = last
	}
	var problems []Problem
	for _, p := range ch.Unreadable {
		if p.Seq == 0 || (p.Seq >= lo && (toEnd || p.Seq <= hi)) {
			problems = append(problems, p)
		}
	}
	problems = append(problems, CheckChain(ch.Stream, ch.bySeq, lo, hi)...)
	if toEnd && ch.LastSeal > last {
		problems = append(problems, Problem{Kind: ProblemTruncated, Seq: ch.LastSeal, Object: ch.Stream.SealName(ch.LastSeal),
			Manifest: ch.Stream.ManifestName(ch.LastSeal), Actual: fmt.Sprintf("the manifest ends at entry %d", last)})
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Seq < problems[j].Seq })
	return problems
}

// Span returns the seqs of the entries that bound the time range [from, to] (zero: open): the last
// entry that ends before from (1 when none) and the first that starts after to (0, the end, when
// none). Every entry that can hold events of the range, and every gap where one could have been,
// lies between them.
func (ch Chain) Span(from, to time.Time) (lo, hi uint64) {
	lo = 1
	for _, e := range ch.Entries {
		first, err1 := time.Parse(time.RFC3339Nano, e.First)
		last, err2 := time.Parse(time.RFC3339Nano, e.Last)
		if err1 != nil || err2 != nil {
			continue
		}
		if !from.IsZero() && last.Before(from) {
			lo = max(lo, e.Seq)
		}
		if !to.IsZero() && first.After(to) && (hi == 0 || e.Seq < hi) {
			hi = e.Seq
		}
	}
	if hi != 0 && hi < lo {
		hi = lo
	}
	return lo, hi
}

// readManifest reads a stream's manifest entries (through c, which may be nil): the readable ones
// by seq, the unreadable ones as problems, and the highest readable seq.
func readManifest(ctx context.Context, bkt objstore.Bucket, s Stream, c *ManifestCache) (map[uint64]Entry, []Problem, uint64, error) {
	entries := map[uint64]Entry{}
	var problems []Problem
	var maxSeq uint64
	err := bkt.Iter(ctx, s.Prefix()+"manifest/", func(name string) error {
		seq, ok := parseSeq(name)
		if !ok {
			problems = append(problems, Problem{Kind: ProblemEntryUnreadable, Manifest: name, Actual: "name is not <seq>.json"})
			return nil
		}
		e, ok := c.get(name)
		if !ok {
			data, err := read(ctx, bkt, name)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(data, &e); err != nil || e.Seq != seq {
				problems = append(problems, Problem{Kind: ProblemEntryUnreadable, Manifest: name, Seq: seq, Actual: firstLine(data)})
				return nil
			}
			c.put(name, e)
		}
		entries[seq] = e
		maxSeq = max(maxSeq, seq)
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("cannot read the manifest of %s: %w", s.Prefix(), err)
	}
	return entries, problems, maxSeq, nil
}

func (c *ManifestCache) get(name string) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	return e, ok
}

func (c *ManifestCache) put(name string, e Entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]Entry{}
	}
	c.entries[name] = e
}

// Overlaps reports whether the entry's events can fall in [from, to] (zero times are open ends).
func (e Entry) Overlaps(from, to time.Time) bool {
	first, err1 := time.Parse(time.RFC3339Nano, e.First)
	last, err2 := time.Parse(time.RFC3339Nano, e.Last)
	if err1 != nil || err2 != nil {
		return true // unreadable times: scan it rather than miss it
	}
	return (to.IsZero() || !first.After(to)) && (from.IsZero() || !last.Before(from))
}

// ErrMismatch is wrapped by ReadObject when an object's bytes are not those its entry records.
var ErrMismatch = fmt.Errorf("object does not match its manifest entry")

// ObjectError is the error of ReadObject for an object that is not as its manifest entry
// records: missing (it wraps the bucket's not-found error), modified or reordered (it wraps
// ErrMismatch). Problem says which, as Verify would.
type ObjectError struct {
	Problem Problem
	err     error
}

func (e *ObjectError) Error() string {
	if e.Problem.Kind == ProblemMissing {
		return fmt.Sprintf("cannot read archive object %s (manifest entry %d): %v (run vigil archive verify)", e.Problem.Object, e.Problem.Seq, e.err)
	}
	return fmt.Sprintf("%v: %s has sha256 %s, manifest entry %d says %s (run vigil archive verify)",
		e.err, e.Problem.Object, e.Problem.Actual, e.Problem.Seq, e.Problem.Expected)
}

func (e *ObjectError) Unwrap() error { return e.err }

// ReadObject fetches the entry's object, checks it against the entry's SHA-256, and returns the
// raw object (for exports) and its events. A missing or mismatching object is an *ObjectError.
func ReadObject(ctx context.Context, bkt objstore.Bucket, e Entry) ([]byte, [][]byte, error) {
	return ReadObjectOf(ctx, bkt, Stream{}, e)
}

// ReadObjectOf is ReadObject for an entry of stream s (its problems name the manifest entry).
func ReadObjectOf(ctx context.Context, bkt objstore.Bucket, s Stream, e Entry) ([]byte, [][]byte, error) {
	obj, err := read(ctx, bkt, e.Object)
	if bkt.IsObjNotFoundErr(err) {
		return nil, nil, &ObjectError{err: err, Problem: Problem{Kind: ProblemMissing, Seq: e.Seq, Object: e.Object,
			Manifest: manifestName(s, e.Seq), Expected: e.SHA256}}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read archive object %s: %w", e.Object, err)
	}
	if p := checkObject(s, e, obj, nil); p != nil {
		p.Manifest = manifestName(s, e.Seq)
		return obj, nil, &ObjectError{err: ErrMismatch, Problem: *p}
	}
	events, err := Decode(obj)
	if err != nil {
		return obj, nil, fmt.Errorf("cannot decode archive object %s: %w", e.Object, err)
	}
	return obj, events, nil
}

func manifestName(s Stream, seq uint64) string {
	if s == (Stream{}) {
		return ""
	}
	return s.ManifestName(seq)
}
