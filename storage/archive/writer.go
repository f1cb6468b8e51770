package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/thanos-io/objstore"
)

// Append stores events as the stream's object number prev.Seq+1 (1 when prev is nil) for the hour
// of first, then its index, then its manifest entry chained to prev. Every write is idempotent:
// replaying the same call after a crash writes the same names with the same bytes.
func Append(ctx context.Context, bkt objstore.Bucket, s Stream, prev *Entry, first, last time.Time, events [][]byte) (Entry, error) {
	return AppendNDJSON(ctx, bkt, s, prev, first, last, JoinLines(events))
}

// AppendNDJSON is Append of the events whose NDJSON is raw (each line, one event, followed by a
// newline), for callers that hold them so: nothing is copied.
func AppendNDJSON(ctx context.Context, bkt objstore.Bucket, s Stream, prev *Entry, first, last time.Time, raw []byte) (Entry, error) {
	return AppendIndexed(ctx, bkt, s, prev, Span{First: first, Last: last}, raw, nil)
}

// AppendIndexed is AppendNDJSON for a caller that gathered the events' index fields already:
// index holds raw's events (nil: they are read from raw); span's receive times, when known, make
// a v3 entry.
func AppendIndexed(ctx context.Context, bkt objstore.Bucket, s Stream, prev *Entry, span Span, raw []byte, index *IndexBuilder) (Entry, error) {
	first, last := span.First, span.Last
	e := Entry{Seq: 1, Prev: Genesis}
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	if index == nil {
		index = NewIndexBuilder()
		for _, line := range SplitLines(raw) {
			index.AddLine(line)
		}
	} else if n := LineCount(raw); index.Events() != n {
		return Entry{}, fmt.Errorf("cannot index object %d of %s: %d events gathered for its %d lines", e.Seq, s.Cluster, index.Events(), n)
	}
	obj, sum := EncodeNDJSON(raw)
	e.Object = s.ObjectName(first, e.Seq)
	e.SHA256, e.Size, e.Events = sum, int64(len(obj)), index.Events()
	e.First, e.Last = first.UTC().Format(time.RFC3339Nano), last.UTC().Format(time.RFC3339Nano)
	if !span.ReceivedFirst.IsZero() && !span.ReceivedLast.IsZero() {
		e.ReceivedFirst = span.ReceivedFirst.UTC().Format(time.RFC3339Nano)
		e.ReceivedLast = span.ReceivedLast.UTC().Format(time.RFC3339Nano)
	}
	indexJSON, err := index.Index().Encode()
	if err != nil {
		return Entry{}, err
	}
	sum256 := sha256.Sum256(indexJSON)
	e.Index, e.IndexSHA256 = IndexName(e.Object), hex.EncodeToString(sum256[:])
	e.Seal()
	if err := Put(ctx, bkt, e.Object, obj); err != nil {
		return Entry{}, err
	}
	if err := Put(ctx, bkt, e.Index, indexJSON); err != nil {
		return Entry{}, fmt.Errorf("cannot write the index of %s: %w", e.Object, err)
	}
	manifest, err := jsonMarshal(e)
	if err != nil {
		return Entry{}, err
	}
	if err := Put(ctx, bkt, s.ManifestName(e.Seq), manifest); err != nil {
		return Entry{}, fmt.Errorf("cannot write the manifest entry of %s: %w", e.Object, err)
	}
	return e, nil
}

func jsonMarshal(e Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	return append(b, '\n'), err
}
