package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Stream identifies the objects of one tenant, cluster and writer; their manifest is one hash
// chain. Writer is empty for the archive of a single writer (the layout before writers), else the
// name of one of several gateway replicas that archive the cluster side by side, each in its own
// stream: a cluster's events are those of all its streams.
type Stream struct {
	Tenant, Cluster string
	Writer          string
}

// WritersDir is the directory, under a cluster's, of its writers' streams:
// audit/<tenant>/<cluster>/writers/<writer>/.
const WritersDir = "writers"

// ClusterPrefix is the directory of the cluster's stream without writer, and of its writers'.
func (s Stream) ClusterPrefix() string { return "audit/" + s.Tenant + "/" + s.Cluster + "/" }

// Prefix is the directory of the stream's objects and manifest entries: audit/<tenant>/<cluster>/,
// or audit/<tenant>/<cluster>/writers/<writer>/ for a writer's stream.
func (s Stream) Prefix() string {
	if s.Writer == "" {
		return s.ClusterPrefix()
	}
	return s.ClusterPrefix() + WritersDir + "/" + s.Writer + "/"
}

// String names the stream as verify reports it: tenant/cluster, or tenant/cluster/writer.
func (s Stream) String() string {
	if s.Writer == "" {
		return s.Tenant + "/" + s.Cluster
	}
	return s.Tenant + "/" + s.Cluster + "/" + s.Writer
}

// maxWriterLen bounds a writer name (a Kubernetes pod name has at most 253 characters).
const maxWriterLen = 253

// ValidWriter reports whether name can be a writer: empty (no writer), or a path segment of at
// most 253 letters, digits, '-', '_' and '.' that starts with a letter or digit.
func ValidWriter(name string) bool {
	if name == "" {
		return true
	}
	if len(name) > maxWriterLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ObjectName is the deterministic name of the stream's object number seq holding events of the
// hour that contains t: <prefix>/<yyyy>/<mm>/<dd>/<hh>/<seq>.ndjson.zst (Prefix).
func (s Stream) ObjectName(t time.Time, seq uint64) string {
	t = t.UTC()
	return fmt.Sprintf("%s%04d/%02d/%02d/%02d/%012d.ndjson.zst", s.Prefix(), t.Year(), t.Month(), t.Day(), t.Hour(), seq)
}

// ManifestName is the name of the manifest entry of object number seq.
func (s Stream) ManifestName(seq uint64) string {
	return fmt.Sprintf("%smanifest/%012d.json", s.Prefix(), seq)
}

// parseSeq returns the sequence number in an object or manifest name.
func parseSeq(name string) (uint64, bool) {
	base := name[strings.LastIndexByte(name, '/')+1:]
	base = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, ".ndjson.zst"), ".index.json"), ".json")
	n, err := strconv.ParseUint(base, 10, 64)
	return n, err == nil
}

// encoder is shared: EncodeAll is safe for concurrent use and, for a given library version and
// options, deterministic — the same events always give the same bytes, hence the same hash.
var encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
	zstd.WithZeroFrames(true), zstd.WithEncoderCRC(true))

var decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))

// Encode builds an object from events (each one JSON document without a newline): NDJSON,
// zstd-compressed. It returns the object and its SHA-256 in hex.
func Encode(events [][]byte) ([]byte, string) {
	return EncodeNDJSON(JoinLines(events))
}

// JoinLines returns the NDJSON of events: each followed by a newline.
func JoinLines(events [][]byte) []byte {
	n := 0
	for _, e := range events {
		n += len(e) + 1
	}
	raw := make([]byte, 0, n)
	for _, e := range events {
		raw = append(raw, e...)
		raw = append(raw, '\n')
	}
	return raw
}

// EncodeNDJSON is Encode of the events whose NDJSON is raw.
func EncodeNDJSON(raw []byte) ([]byte, string) {
	obj := encoder.EncodeAll(raw, make([]byte, 0, len(raw)/8+64))
	sum := sha256.Sum256(obj)
	return obj, hex.EncodeToString(sum[:])
}

// SplitLines returns the events of NDJSON (each line without its newline).
func SplitLines(raw []byte) [][]byte {
	if len(raw) == 0 {
		return nil
	}
	return bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
}

// LineCount is len(SplitLines(raw)), without the lines.
func LineCount(raw []byte) int {
	if len(raw) == 0 {
		return 0
	}
	return bytes.Count(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) + 1
}

// Decode returns the events of an object.
func Decode(obj []byte) ([][]byte, error) {
	raw, err := decoder.DecodeAll(obj, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot decompress object: %w", err)
	}
	return SplitLines(raw), nil
}

// Entry is a manifest entry: one object and the hash that chains it to every entry before it.
type Entry struct {
	Seq    uint64 `json:"seq"`
	Object string `json:"object"`
	SHA256 string `json:"sha256"` // of the object's bytes as stored
	Size   int64  `json:"size"`
	Events int    `json:"events"`
	First  string `json:"first_time"` // RFC 3339, earliest event time in the object
	Last   string `json:"last_time"`
	Prev   string `json:"prev"` // Hash of the previous entry; 64 zeros for seq 1
	// Index and IndexSHA256 name the object's index and its SHA-256 (format v2; empty in v1).
	Index       string `json:"index,omitempty"`
	IndexSHA256 string `json:"index_sha256,omitempty"`
	// ReceivedFirst and ReceivedLast (RFC 3339; format v3, empty before) are when vigil received
	// the earliest- and latest-received event of the object: beside First and Last, which the
	// events state themselves, they show events whose own time is far from their receipt (a
	// sender that backdates its events, or a delivery delayed by an outage).
	ReceivedFirst string `json:"received_first,omitempty"`
	ReceivedLast  string `json:"received_last,omitempty"`
	Hash          string `json:"hash"` // SHA-256 of ChainInput()
}

// Span is the time span of an object's events: their own times (First, Last) and when vigil
// received them (zero: not known).
type Span struct {
	First, Last                 time.Time
	ReceivedFirst, ReceivedLast time.Time
}

// Genesis is the Prev of the first entry of a stream.
var Genesis = strings.Repeat("0", 64)

// ChainInput is the text whose SHA-256 is the entry's Hash: its fields, one per line; v2 entries
// (with an index) add the index's name and SHA-256, v3 entries (with receive times) also the
// receive times.
func (e Entry) ChainInput() string {
	switch {
	case e.ReceivedFirst != "" || e.ReceivedLast != "":
		return fmt.Sprintf("vigil-archive-v3\n%d\n%s\n%s\n%d\n%d\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n",
			e.Seq, e.Object, e.SHA256, e.Size, e.Events, e.First, e.Last, e.Prev, e.Index, e.IndexSHA256, e.ReceivedFirst, e.ReceivedLast)
	case e.Index == "" && e.IndexSHA256 == "":
		return fmt.Sprintf("vigil-archive-v1\n%d\n%s\n%s\n%d\n%d\n%s\n%s\n%s\n", e.Seq, e.Object, e.SHA256, e.Size, e.Events, e.First, e.Last, e.Prev)
	}
	return fmt.Sprintf("vigil-archive-v2\n%d\n%s\n%s\n%d\n%d\n%s\n%s\n%s\n%s\n%s\n",
		e.Seq, e.Object, e.SHA256, e.Size, e.Events, e.First, e.Last, e.Prev, e.Index, e.IndexSHA256)
}

// Seal computes Hash from the other fields.
func (e *Entry) Seal() {
	sum := sha256.Sum256([]byte(e.ChainInput()))
	e.Hash = hex.EncodeToString(sum[:])
}
