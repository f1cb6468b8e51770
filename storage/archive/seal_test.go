package archive

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func kinds(rep Report) []string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.Kind)
	}
	return out
}

func TestSealsDetectTruncation(t *testing.T) {
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

	t.Run("intact", func(t *testing.T) {
		_, bkt, entries := build(t, 5)
		seal, err := WriteSeal(ctx, bkt, stream, entries[4], now, priv)
		require.NoError(t, err)
		again, err := WriteSeal(ctx, bkt, stream, entries[4], now.Add(time.Hour), priv)
		require.NoError(t, err, "a seal already there is kept (a replay after a crash)")
		require.Equal(t, seal, again)
		rep, err := VerifyRange(ctx, bkt, stream, VerifyOptions{SealKey: pub, Anchors: []Seal{{Tenant: stream.Tenant, Cluster: stream.Cluster, Seq: 3, Hash: entries[2].Hash}}})
		require.NoError(t, err)
		require.Empty(t, rep.Problems, "seals are not objects of the chain")
	})
	t.Run("newest entries cut off", func(t *testing.T) {
		dir, bkt, entries := build(t, 5)
		_, err := WriteSeal(ctx, bkt, stream, entries[4], now, priv)
		require.NoError(t, err)
		for _, e := range entries[3:] {
			require.NoError(t, os.Remove(path(dir, e.Object)))
			require.NoError(t, os.Remove(path(dir, e.Index)))
			require.NoError(t, os.Remove(path(dir, stream.ManifestName(e.Seq))))
		}
		rep, err := Verify(ctx, bkt, stream)
		require.NoError(t, err)
		require.Equal(t, []string{ProblemTruncated}, kinds(rep), "the chain alone looks intact; the seal shows the cut")
		require.Equal(t, entries[4].Hash, rep.Problems[0].Expected)

		// The attacker removes the seal too: the anchor vigil logged outside the bucket still shows it.
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "audit", stream.Tenant, stream.Cluster, "seals")))
		rep, err = Verify(ctx, bkt, stream)
		require.NoError(t, err)
		require.Empty(t, rep.Problems)
		rep, err = VerifyRange(ctx, bkt, stream, VerifyOptions{Anchors: []Seal{{Tenant: stream.Tenant, Cluster: stream.Cluster, Seq: 5, Hash: entries[4].Hash}}})
		require.NoError(t, err)
		require.Equal(t, []string{ProblemTruncated}, kinds(rep))
	})
	t.Run("forged seal", func(t *testing.T) {
		_, bkt, entries := build(t, 3)
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		_, err := WriteSeal(ctx, bkt, stream, entries[2], now, other)
		require.NoError(t, err)
		rep, err := VerifyRange(ctx, bkt, stream, VerifyOptions{SealKey: pub})
		require.NoError(t, err)
		require.Equal(t, []string{ProblemSealSignature}, kinds(rep))
	})
	t.Run("chain rewritten after the seal", func(t *testing.T) {
		_, bkt, entries := build(t, 3)
		forged := entries[2]
		forged.Hash = Genesis
		rep, err := VerifyRange(ctx, bkt, stream, VerifyOptions{Anchors: []Seal{{Tenant: stream.Tenant, Cluster: stream.Cluster, Seq: 3, Hash: "f" + forged.Hash[1:]}}})
		require.NoError(t, err)
		require.Equal(t, []string{ProblemSealMismatch}, kinds(rep))
	})
}

func TestLoadKeys(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "k"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pder, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "k.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o600))
	gotPriv, err := LoadPrivateKey(filepath.Join(dir, "k"))
	require.NoError(t, err)
	require.True(t, priv.Equal(gotPriv))
	gotPub, err := LoadPublicKey(filepath.Join(dir, "k.pub"))
	require.NoError(t, err)
	require.True(t, pub.Equal(gotPub))
	_, err = LoadPrivateKey(filepath.Join(dir, "k.pub"))
	require.ErrorContains(t, err, "cannot parse key")
	_, err = LoadPublicKey(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "cannot read key")
}
