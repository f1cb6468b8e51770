package archive

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Writers' streams live beside a stream without writer in one bucket: each is listed, verified
// on its own, and none of them counts the others' objects as inserted.
func TestWritersStreamsBesideAStreamWithoutWriter(t *testing.T) {
	ctx := context.Background()
	dir, bkt, _ := build(t, 2) // the stream without writer, as before writers
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	writers := []Stream{
		{Tenant: stream.Tenant, Cluster: stream.Cluster, Writer: "vigil-gateway-0"},
		{Tenant: stream.Tenant, Cluster: stream.Cluster, Writer: "vigil-gateway-1"},
		{Tenant: stream.Tenant, Cluster: "only-writers", Writer: "vigil-gateway-0"},
	}
	heads := map[Stream]Entry{}
	for i, w := range writers {
		var prev *Entry
		for s := range 2 {
			// The same events in every stream: names never collide, each chain starts at 1.
			e, err := Append(ctx, bkt, w, prev, t0.Add(time.Duration(s)*time.Minute), t0.Add(time.Duration(s)*time.Minute), [][]byte{event(s, 0)})
			require.NoError(t, err, "writer %d", i)
			require.Equal(t, uint64(s+1), e.Seq)
			require.Contains(t, e.Object, "/"+w.Cluster+"/writers/"+w.Writer+"/")
			prev = &e
		}
		heads[w] = *prev
		seal, err := WriteSeal(ctx, bkt, w, *prev, t0, key)
		require.NoError(t, err)
		require.Equal(t, w.Writer, seal.Writer)
	}

	streams, err := Streams(ctx, bkt)
	require.NoError(t, err)
	require.Equal(t, []Stream{writers[2], stream, writers[0], writers[1]}, streams,
		"a cluster with only writers' streams has no stream without writer")

	pub := key.Public().(ed25519.PublicKey)
	for _, s := range streams {
		rep, err := VerifyRange(ctx, bkt, s, VerifyOptions{SealKey: pub})
		require.NoError(t, err)
		require.Empty(t, rep.Problems, s.String())
		require.Equal(t, 2, rep.Objects, s.String())
	}

	// An anchor names its writer: it applies to that writer's chain only.
	anchor := Seal{Tenant: stream.Tenant, Cluster: stream.Cluster, Writer: "vigil-gateway-1", Seq: 5}
	for _, s := range streams {
		rep, err := VerifyRange(ctx, bkt, s, VerifyOptions{Anchors: []Seal{anchor}})
		require.NoError(t, err)
		if s == writers[1] {
			require.Equal(t, []string{ProblemTruncated}, kinds(rep))
		} else {
			require.Empty(t, rep.Problems, s.String())
		}
	}

	// A writer's seal cannot stand for another writer's: its writer is part of what is signed.
	other := writers[0]
	forged := Seal{Tenant: other.Tenant, Cluster: other.Cluster, Writer: writers[1].Writer, Seq: heads[other].Seq, Hash: heads[other].Hash}
	require.NotEqual(t, forged.SignedText(), Seal{Tenant: other.Tenant, Cluster: other.Cluster, Writer: other.Writer, Seq: forged.Seq, Hash: forged.Hash}.SignedText())
	raw, err := os.ReadFile(path(dir, writers[1].SealName(heads[writers[1]].Seq)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path(dir, other.SealName(heads[other].Seq)), raw, 0o600))
	rep, err := Verify(ctx, bkt, other)
	require.NoError(t, err)
	require.Equal(t, []string{ProblemSealUnreadable}, kinds(rep))
}

func TestValidWriter(t *testing.T) {
	for _, w := range []string{"", "vigil-gateway-0", "a", "gw_1.eu"} {
		require.True(t, ValidWriter(w), w)
	}
	long := make([]byte, 254)
	for i := range long {
		long[i] = 'a'
	}
	for _, w := range []string{"..", ".", "-a", "a/b", "a b", "writer\n", string(long), "é"} {
		require.False(t, ValidWriter(w), w)
	}
}
