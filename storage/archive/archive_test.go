package archive

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var stream = Stream{Tenant: "default", Cluster: "prod-eu-1"}

func event(seq, i int) []byte {
	return []byte(fmt.Sprintf(`{"kind":"Event","auditID":"%04d-%04d","stage":"ResponseComplete","verb":"get","user":{"username":"alice"}}`, seq, i))
}

// build writes n objects of 10 events each and returns the bucket root and the entries.
func build(t *testing.T, n int) (string, *FilesystemBucket, []Entry) {
	t.Helper()
	dir := t.TempDir()
	bkt, err := NewFilesystemBucket(dir)
	require.NoError(t, err)
	var entries []Entry
	var prev *Entry
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for s := range n {
		evs := make([][]byte, 10)
		for i := range evs {
			evs[i] = event(s, i)
		}
		e, err := Append(context.Background(), bkt, stream, prev, t0.Add(time.Duration(s)*20*time.Minute), t0.Add(time.Duration(s)*20*time.Minute+time.Minute), evs)
		require.NoError(t, err)
		entries = append(entries, e)
		prev = &entries[len(entries)-1]
	}
	return dir, bkt, entries
}

func path(dir, name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }

func TestRoundTripAndCleanVerify(t *testing.T) {
	dir, bkt, entries := build(t, 5)
	require.Equal(t, "audit/default/prod-eu-1/2026/11/22/10/000000000001.ndjson.zst", entries[0].Object)
	require.Equal(t, "audit/default/prod-eu-1/2026/11/22/11/000000000004.ndjson.zst", entries[3].Object)
	require.Equal(t, Genesis, entries[0].Prev)
	require.Equal(t, entries[0].Hash, entries[1].Prev)

	data, err := os.ReadFile(path(dir, entries[2].Object))
	require.NoError(t, err)
	evs, err := Decode(data)
	require.NoError(t, err)
	require.Len(t, evs, 10)
	require.Equal(t, string(event(2, 7)), string(evs[7]))

	rep, err := Verify(context.Background(), bkt, stream)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, 5, rep.Entries)
	require.Equal(t, 5, rep.Objects)
	matches, _ := filepath.Glob(filepath.Join(dir, "audit/default/prod-eu-1/*/*/*/*/.tmp-*"))
	require.Empty(t, matches, "no temporary files are left")
}

func TestEncodingIsDeterministicAndReplaysAreIdempotent(t *testing.T) {
	evs := [][]byte{event(1, 1), event(1, 2)}
	a, ha := Encode(evs)
	b, hb := Encode(evs)
	require.Equal(t, a, b)
	require.Equal(t, ha, hb)

	_, bkt, entries := build(t, 2)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// A replay of the first Append after a crash: same names, same bytes, no error.
	evs = make([][]byte, 10)
	for i := range evs {
		evs[i] = event(0, i)
	}
	e, err := Append(context.Background(), bkt, stream, nil, t0, t0.Add(time.Minute), evs)
	require.NoError(t, err)
	require.Equal(t, entries[0], e)
	// Different content under an existing name is refused.
	_, err = Append(context.Background(), bkt, stream, nil, t0, t0.Add(time.Minute), evs[:3])
	require.ErrorIs(t, err, ErrRewrite)
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, entries []Entry)
		want   []Problem // Kind, Seq and Object are compared
	}{
		{"flip one byte", func(t *testing.T, dir string, e []Entry) {
			p := path(dir, e[1].Object)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x01
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, []Problem{{Kind: ProblemModified, Seq: 2}}},
		{"delete an object", func(t *testing.T, dir string, e []Entry) {
			require.NoError(t, os.Remove(path(dir, e[2].Object)))
		}, []Problem{{Kind: ProblemMissing, Seq: 3}}},
		{"swap two objects", func(t *testing.T, dir string, e []Entry) {
			a, _ := os.ReadFile(path(dir, e[0].Object))
			b, _ := os.ReadFile(path(dir, e[1].Object))
			require.NoError(t, os.WriteFile(path(dir, e[0].Object), b, 0o600))
			require.NoError(t, os.WriteFile(path(dir, e[1].Object), a, 0o600))
		}, []Problem{{Kind: ProblemReordered, Seq: 1}, {Kind: ProblemReordered, Seq: 2}}},
		{"insert a forged object", func(t *testing.T, dir string, e []Entry) {
			forged, _ := Encode([][]byte{[]byte(`{"auditID":"forged"}`)})
			p := path(dir, strings.Replace(e[3].Object, "000000000004", "000000000099", 1))
			require.NoError(t, os.WriteFile(p, forged, 0o600))
		}, []Problem{{Kind: ProblemInserted, Seq: 99}}},
		{"truncate a manifest entry", func(t *testing.T, dir string, e []Entry) {
			p := path(dir, stream.ManifestName(2))
			b, _ := os.ReadFile(p)
			require.NoError(t, os.WriteFile(p, b[:len(b)/2], 0o600))
		}, []Problem{{Kind: ProblemEntryUnreadable, Seq: 2}, {Kind: ProblemEntryMissing, Seq: 2}, {Kind: ProblemInserted, Seq: 2}, {Kind: ProblemInserted, Seq: 2}}},
		{"remove the newest manifest entry", func(t *testing.T, dir string, e []Entry) {
			require.NoError(t, os.Remove(path(dir, stream.ManifestName(5))))
		}, []Problem{{Kind: ProblemInserted, Seq: 5}, {Kind: ProblemInserted, Seq: 5}}},
		{"edit a manifest entry", func(t *testing.T, dir string, e []Entry) {
			p := path(dir, stream.ManifestName(4))
			b, _ := os.ReadFile(p)
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"events":10`, `"events":9`, 1)), 0o600))
		}, []Problem{{Kind: ProblemEntryModified, Seq: 4}}},
		{"rewrite an entry and its hash", func(t *testing.T, dir string, e []Entry) {
			forged := e[2]
			forged.Events = 3
			forged.Seal()
			b, _ := jsonMarshal(forged)
			require.NoError(t, os.WriteFile(path(dir, stream.ManifestName(3)), b, 0o600))
		}, []Problem{{Kind: ProblemChainBroken, Seq: 4}}},
		{"delete an index", func(t *testing.T, dir string, e []Entry) {
			require.NoError(t, os.Remove(path(dir, e[1].Index)))
		}, []Problem{{Kind: ProblemIndexMissing, Seq: 2}}},
		{"edit an index to hide a user", func(t *testing.T, dir string, e []Entry) {
			b, _ := os.ReadFile(path(dir, e[0].Index))
			require.NoError(t, os.WriteFile(path(dir, e[0].Index), []byte(strings.Replace(string(b), `"events":10`, `"events":11`, 1)), 0o600))
		}, []Problem{{Kind: ProblemIndexModified, Seq: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, bkt, entries := build(t, 5)
			tt.tamper(t, dir, entries)
			rep, err := Verify(context.Background(), bkt, stream)
			require.NoError(t, err)
			var got []Problem
			for _, p := range rep.Problems {
				got = append(got, Problem{Kind: p.Kind, Seq: p.Seq})
				require.NotEmpty(t, p.String())
			}
			require.ElementsMatch(t, tt.want, got, "problems: %v", rep.Problems)
			for _, p := range rep.Problems {
				if p.Kind == ProblemModified || p.Kind == ProblemReordered {
					require.NotEqual(t, p.Expected, p.Actual)
					require.NotEmpty(t, p.Object)
				}
			}
		})
	}
}

// countingBucket counts the objects read.
type countingBucket struct {
	*FilesystemBucket
	gets atomic.Int64
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.gets.Add(1)
	return b.FilesystemBucket.Get(ctx, name)
}

// A manifest cache reads each entry once; new entries are read as they appear.
func TestManifestCacheReadsNewEntriesOnly(t *testing.T) {
	fs, err := NewFilesystemBucket(t.TempDir())
	require.NoError(t, err)
	bkt := &countingBucket{FilesystemBucket: fs}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var prev *Entry
	for s := range 3 {
		e, err := Append(ctx, bkt, stream, prev, t0, t0, [][]byte{event(s, 0)})
		require.NoError(t, err)
		prev = &e
	}
	var cache ManifestCache
	bkt.gets.Store(0)
	first, err := cache.Manifest(ctx, bkt, stream)
	require.NoError(t, err)
	require.Len(t, first, 3)
	require.EqualValues(t, 3, bkt.gets.Load())
	again, err := cache.Manifest(ctx, bkt, stream)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.EqualValues(t, 3, bkt.gets.Load(), "nothing read again")

	_, err = Append(ctx, bkt, stream, prev, t0, t0, [][]byte{event(3, 0)})
	require.NoError(t, err)
	bkt.gets.Store(0)
	four, err := cache.Manifest(ctx, bkt, stream)
	require.NoError(t, err)
	require.Len(t, four, 4)
	require.EqualValues(t, 1, bkt.gets.Load(), "only the new entry")
	uncached, err := Manifest(ctx, bkt, stream)
	require.NoError(t, err)
	require.Equal(t, four, uncached)
}

// TestUploadsInProgressAreNotObjects lists a bucket while vigil writes it: an Upload's temporary
// file (here one that a crash left) is not an object, and neither the chain nor verify report it.
func TestUploadsInProgressAreNotObjects(t *testing.T) {
	dir, bkt, _ := build(t, 3)
	for _, name := range []string{stream.Prefix() + "manifest/.tmp-000000000004.json-c0c226bcf17e",
		"audit/default/prod-eu-1/2026/11/22/10/.tmp-000000000004.ndjson.zst-0a1b2c3d4e5f"} {
		require.NoError(t, os.WriteFile(path(dir, name), []byte("half"), 0o600))
	}
	var listed []string
	require.NoError(t, bkt.Iter(context.Background(), stream.Prefix()+"manifest/", func(name string) error {
		listed = append(listed, name)
		return nil
	}))
	require.Len(t, listed, 3, "only the manifest entries: %v", listed)
	rep, err := Verify(context.Background(), bkt, stream)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
}
