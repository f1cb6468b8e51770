package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/thanos-io/objstore"
)

// Streams lists the streams in the bucket: every audit/<tenant>/<cluster>/, sorted.
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
			out = append(out, Stream{Tenant: tenant, Cluster: cluster})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Cluster < out[j].Cluster
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
// left out (Verify reports them).
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
	var out []Entry
	err := bkt.Iter(ctx, s.Prefix()+"manifest/", func(name string) error {
		seq, ok := parseSeq(name)
		if !ok {
			return nil
		}
		if e, ok := c.get(name); ok {
			out = append(out, e)
			return nil
		}
		data, err := read(ctx, bkt, name)
		if err != nil {
			return err
		}
		var e Entry
		if json.Unmarshal(data, &e) == nil && e.Seq == seq {
			out = append(out, e)
			c.put(name, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the manifest of %s: %w", s.Prefix(), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
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

// ReadObject fetches the entry's object, checks it against the entry's SHA-256, and returns the
// raw object (for exports) and its events. A mismatch is an error wrapping ErrMismatch.
func ReadObject(ctx context.Context, bkt objstore.Bucket, e Entry) ([]byte, [][]byte, error) {
	obj, err := read(ctx, bkt, e.Object)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read archive object %s: %w", e.Object, err)
	}
	sum := sha256.Sum256(obj)
	if actual := hex.EncodeToString(sum[:]); actual != e.SHA256 {
		return obj, nil, fmt.Errorf("%w: %s has sha256 %s, manifest entry %d says %s (run vigil archive verify)",
			ErrMismatch, e.Object, actual, e.Seq, e.SHA256)
	}
	events, err := Decode(obj)
	if err != nil {
		return obj, nil, fmt.Errorf("cannot decode archive object %s: %w", e.Object, err)
	}
	return obj, events, nil
}
