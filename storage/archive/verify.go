package archive

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/thanos-io/objstore"
)

// Kinds of problems Verify reports.
const (
	ProblemMissing          = "missing"           // an object in the manifest is not in the bucket
	ProblemModified         = "modified"          // an object's bytes do not have the manifest's hash
	ProblemReordered        = "reordered"         // an object holds the bytes of another entry's object
	ProblemInserted         = "inserted"          // an object that no manifest entry lists (added, or its entry removed)
	ProblemEntryMissing     = "manifest_gap"      // a sequence number without manifest entry
	ProblemEntryModified    = "manifest_modified" // an entry whose hash does not match its fields
	ProblemEntryUnreadable  = "manifest_unreadable"
	ProblemChainBroken      = "chain_broken"   // an entry's prev is not the previous entry's hash
	ProblemEntryNameInvalid = "manifest_name"  // an entry lists an object name that does not belong to its seq
	ProblemIndexMissing     = "index_missing"  // an entry's index is not in the bucket
	ProblemIndexModified    = "index_modified" // an index's bytes do not have the entry's index_sha256
	ProblemTruncated        = "truncated"      // a seal or anchor names an entry after the manifest's last: entries were cut off
	ProblemSealMismatch     = "seal_mismatch"  // a seal or anchor names an entry whose hash differs
	ProblemSealSignature    = "seal_signature" // a seal not signed by the given key
	ProblemSealUnreadable   = "seal_unreadable"
)

// Problem is one finding of Verify.
type Problem struct {
	Kind     string `json:"kind"`
	Object   string `json:"object,omitempty"`
	Manifest string `json:"manifest,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
}

func (p Problem) String() string {
	s := p.Kind
	if p.Object != "" {
		s += " object " + p.Object
	}
	if p.Manifest != "" {
		s += " manifest " + p.Manifest
	}
	if p.Expected != "" || p.Actual != "" {
		s += fmt.Sprintf(" (expected %s, actual %s)", p.Expected, p.Actual)
	}
	return s
}

// Report is what Verify checked and found.
type Report struct {
	Entries  int       `json:"entries"`
	Objects  int       `json:"objects"`
	Skipped  int       `json:"objects_outside_range,omitempty"`
	Bytes    int64     `json:"bytes"`
	Problems []Problem `json:"problems"`
	// Late are the objects whose earliest event is dated more than VerifyOptions.LateAfter before
	// vigil received its first event (v3 entries): not a fault of the archive, but what an
	// auditor looks at — events a sender backdated, or a delivery delayed by an outage.
	Late []LateObject `json:"late_objects,omitempty"`
}

// LateObject is an object of Report.Late.
type LateObject struct {
	Seq           uint64 `json:"seq"`
	Object        string `json:"object"`
	Events        int    `json:"events"`
	First         string `json:"first_time"`     // the earliest time its events state
	ReceivedFirst string `json:"received_first"` // when vigil received the first of them
}

// VerifyOptions narrow and observe Verify.
type VerifyOptions struct {
	// From and To limit the objects whose bytes are checked to those with events in [From, To]
	// (zero: open). The manifest's hash chain is always checked whole: it is what proves that no
	// entry was removed or changed, and it is small.
	From, To time.Time
	// Progress, when set, is told the objects planned and each one checked.
	Progress Progress
	// LateAfter, when positive, lists in Report.Late the objects in range whose events are dated
	// more than this before vigil received them.
	LateAfter time.Duration
	// SealKey, when set, is the public key every seal must be signed with.
	SealKey ed25519.PublicKey
	// Anchors are seals recorded outside the bucket (vigil logs each seal): each must match. An
	// anchor without a Hash only says that the chain reached its Seq (the vigil_archive_sealed_entry
	// gauge): a manifest that ends before it was cut off.
	Anchors []Seal
}

// Progress observes a long scan.
type Progress interface {
	Plan(objects int, bytes int64) // more work is planned
	Done(bytes int64)              // one object of that size was read
}

// Verify checks a whole stream; see VerifyRange.
func Verify(ctx context.Context, bkt objstore.Bucket, s Stream) (Report, error) {
	return VerifyRange(ctx, bkt, s, VerifyOptions{})
}

// VerifyRange checks a stream: the manifest's hash chain, the SHA-256 of every object in the time
// range against its entry, and that every object is in the manifest. It returns an error only
// when the bucket cannot be read; everything wrong with the archive is a Problem.
func VerifyRange(ctx context.Context, bkt objstore.Bucket, s Stream, opts VerifyOptions) (Report, error) {
	var rep Report
	entries, unreadable, maxSeq, err := readManifest(ctx, bkt, s, nil)
	if err != nil {
		return rep, err
	}
	rep.Problems = append(rep.Problems, unreadable...)
	rep.Entries = len(entries)
	byHash := map[string]uint64{}
	for seq, e := range entries {
		byHash[e.SHA256] = seq
	}
	if opts.Progress != nil {
		n, size := 0, int64(0)
		for _, e := range entries {
			if e.Overlaps(opts.From, opts.To) {
				n, size = n+1, size+e.Size
			}
		}
		opts.Progress.Plan(n, size)
	}
	rep.Problems = append(rep.Problems, CheckChain(s, entries, 1, maxSeq)...)
	referenced := map[string]bool{}
	for seq := uint64(1); seq <= maxSeq; seq++ {
		e, ok := entries[seq]
		if !ok || !validName(s, e) {
			continue
		}
		manifest := s.ManifestName(seq)
		referenced[e.Object] = true
		if e.Index != "" {
			referenced[e.Index] = true
		}
		if !e.Overlaps(opts.From, opts.To) {
			rep.Skipped++
			continue
		}
		if late(e, opts.LateAfter) {
			rep.Late = append(rep.Late, LateObject{Seq: seq, Object: e.Object, Events: e.Events, First: e.First, ReceivedFirst: e.ReceivedFirst})
		}
		data, err := read(ctx, bkt, e.Object)
		if opts.Progress != nil {
			opts.Progress.Done(e.Size)
		}
		if bkt.IsObjNotFoundErr(err) {
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemMissing, Seq: seq, Object: e.Object, Manifest: manifest, Expected: e.SHA256})
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.Objects++
		rep.Bytes += int64(len(data))
		if p := checkObject(s, e, data, byHash); p != nil {
			rep.Problems = append(rep.Problems, *p)
		}
		if e.Index != "" {
			p, err := checkIndex(ctx, bkt, e, manifest)
			if err != nil {
				return rep, err
			}
			if p != nil {
				rep.Problems = append(rep.Problems, *p)
			}
		}
	}
	err = bkt.Iter(ctx, s.Prefix(), func(name string) error {
		if strings.HasPrefix(name, s.Prefix()+"manifest/") || strings.HasPrefix(name, s.Prefix()+"seals/") || referenced[name] ||
			strings.Contains(name, "/.tmp-") || underWriters(s, name) {
			return nil
		}
		data, err := read(ctx, bkt, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		seq, _ := parseSeq(name)
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemInserted, Object: name, Seq: seq, Actual: hex.EncodeToString(sum[:])})
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return rep, fmt.Errorf("cannot list the objects of %s: %w", s.Prefix(), err)
	}
	sealProblems, err := checkSeals(ctx, bkt, s, entries, maxSeq, opts)
	if err != nil {
		return rep, err
	}
	rep.Problems = append(rep.Problems, sealProblems...)
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Seq < rep.Problems[j].Seq })
	return rep, nil
}

// CheckChain checks the hash chain of a stream's manifest entries (by seq) from lo to hi,
// inclusive: a seq without entry (manifest_gap), an entry whose hash is not that of its fields
// (manifest_modified), an entry whose prev is not the hash of the entry before it (chain_broken;
// the link of lo is checked when entry lo-1 is there), an entry naming an object that does not
// belong to its seq (manifest_name). Verify checks the whole chain with it; a query checks the
// part of the chain that covers its time range. It reads nothing.
func CheckChain(s Stream, entries map[uint64]Entry, lo, hi uint64) []Problem {
	var problems []Problem
	prevHash := ""
	if lo <= 1 {
		lo, prevHash = 1, Genesis
	} else if e, ok := entries[lo-1]; ok {
		prevHash = e.Hash
	}
	for seq := lo; seq <= hi; seq++ {
		e, ok := entries[seq]
		if !ok {
			problems = append(problems, Problem{Kind: ProblemEntryMissing, Seq: seq, Manifest: s.ManifestName(seq)})
			prevHash = ""
			continue
		}
		manifest := s.ManifestName(seq)
		want := e
		want.Seal()
		if want.Hash != e.Hash {
			problems = append(problems, Problem{Kind: ProblemEntryModified, Seq: seq, Manifest: manifest, Object: e.Object, Expected: want.Hash, Actual: e.Hash})
		}
		if prevHash != "" && e.Prev != prevHash {
			problems = append(problems, Problem{Kind: ProblemChainBroken, Seq: seq, Manifest: manifest, Expected: prevHash, Actual: e.Prev})
		}
		prevHash = e.Hash
		if !validName(s, e) {
			problems = append(problems, Problem{Kind: ProblemEntryNameInvalid, Seq: seq, Manifest: manifest, Object: e.Object})
		}
	}
	return problems
}

// validName reports whether the entry's object name belongs to the stream and to the entry's seq.
func validName(s Stream, e Entry) bool {
	return strings.HasPrefix(e.Object, s.Prefix()) && !underWriters(s, e.Object) &&
		strings.HasSuffix(e.Object, fmt.Sprintf("/%012d.ndjson.zst", e.Seq))
}

// underWriters reports whether name, under the prefix of s, a stream without writer, is in the
// writers' directory: the objects of other streams (the writers' own).
func underWriters(s Stream, name string) bool {
	return s.Writer == "" && strings.HasPrefix(name, s.ClusterPrefix()+WritersDir+"/")
}

// checkObject compares an object's bytes with its entry: nil when they match, else modified, or
// reordered when they are the bytes of another entry's object (byHash: entry seq by object hash).
func checkObject(s Stream, e Entry, data []byte, byHash map[string]uint64) *Problem {
	sum := sha256.Sum256(data)
	actual := hex.EncodeToString(sum[:])
	if actual == e.SHA256 {
		return nil
	}
	kind := ProblemModified
	if other, ok := byHash[actual]; ok && other != e.Seq {
		kind = ProblemReordered
	}
	return &Problem{Kind: kind, Seq: e.Seq, Object: e.Object, Manifest: s.ManifestName(e.Seq), Expected: e.SHA256, Actual: actual}
}

// checkIndex compares an entry's index with its index_sha256.
func checkIndex(ctx context.Context, bkt objstore.Bucket, e Entry, manifest string) (*Problem, error) {
	if !strings.HasPrefix(e.Index, s3Dir(e.Object)) || IndexName(e.Object) != e.Index {
		return &Problem{Kind: ProblemEntryNameInvalid, Seq: e.Seq, Manifest: manifest, Object: e.Index}, nil
	}
	data, err := read(ctx, bkt, e.Index)
	if bkt.IsObjNotFoundErr(err) {
		return &Problem{Kind: ProblemIndexMissing, Seq: e.Seq, Object: e.Index, Manifest: manifest, Expected: e.IndexSHA256}, nil
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if actual := hex.EncodeToString(sum[:]); actual != e.IndexSHA256 {
		return &Problem{Kind: ProblemIndexModified, Seq: e.Seq, Object: e.Index, Manifest: manifest, Expected: e.IndexSHA256, Actual: actual}, nil
	}
	return nil, nil
}

// s3Dir is the directory part of an object name, with the slash.
func s3Dir(name string) string { return name[:strings.LastIndexByte(name, '/')+1] }

func read(ctx context.Context, bkt objstore.Bucket, name string) ([]byte, error) {
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// late reports whether e's earliest event is dated more than after before vigil received the
// object's first event (false for entries without receive times, and for after <= 0).
func late(e Entry, after time.Duration) bool {
	if after <= 0 || e.ReceivedFirst == "" {
		return false
	}
	first, err1 := time.Parse(time.RFC3339Nano, e.First)
	received, err2 := time.Parse(time.RFC3339Nano, e.ReceivedFirst)
	return err1 == nil && err2 == nil && received.Sub(first) > after
}
