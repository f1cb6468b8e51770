package archive

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/thanos-io/objstore"
)

// Seal commits a stream's chain up to an entry: written periodically beside the manifest, signed
// with the operator's Ed25519 key when one is configured, and logged (an anchor outside the
// bucket). The hash chain alone cannot show that its newest entries were cut off; a seal naming
// a later entry, or an anchor recorded elsewhere, does.
type Seal struct {
	Tenant    string `json:"tenant"`
	Cluster   string `json:"cluster"`
	Writer    string `json:"writer,omitempty"` // the stream's writer (empty: a stream without writer)
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"` // the entry's hash
	Time      string `json:"time"` // RFC 3339, when sealed
	KeyID     string `json:"key_id,omitempty"`
	Signature string `json:"signature,omitempty"` // base64 Ed25519 signature of SignedText()
}

// SignedText is what a seal's signature covers, one field per line; a writer's seal (v2) has the
// writer after the cluster.
func (s Seal) SignedText() string {
	if s.Writer != "" {
		return fmt.Sprintf("vigil-archive-seal-v2\n%s\n%s\n%s\n%d\n%s\n%s\n", s.Tenant, s.Cluster, s.Writer, s.Seq, s.Hash, s.Time)
	}
	return fmt.Sprintf("vigil-archive-seal-v1\n%s\n%s\n%d\n%s\n%s\n", s.Tenant, s.Cluster, s.Seq, s.Hash, s.Time)
}

// SealName is the name of the seal of entry seq.
func (s Stream) SealName(seq uint64) string {
	return fmt.Sprintf("%sseals/%012d.json", s.Prefix(), seq)
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// WriteSeal seals the stream at head (signed when key is not nil). A seal of that entry that is
// already there (written before a crash) is kept, and returned.
func WriteSeal(ctx context.Context, bkt objstore.Bucket, s Stream, head Entry, now time.Time, key ed25519.PrivateKey) (Seal, error) {
	seal := Seal{Tenant: s.Tenant, Cluster: s.Cluster, Writer: s.Writer, Seq: head.Seq, Hash: head.Hash, Time: now.UTC().Format(time.RFC3339)}
	if key != nil {
		seal.KeyID = KeyID(key.Public().(ed25519.PublicKey))
		seal.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(seal.SignedText())))
	}
	b, err := json.Marshal(seal)
	if err != nil {
		return Seal{}, err
	}
	err = Put(ctx, bkt, s.SealName(head.Seq), append(b, '\n'))
	if errors.Is(err, ErrRewrite) {
		data, rerr := read(ctx, bkt, s.SealName(head.Seq))
		if rerr == nil && json.Unmarshal(data, &seal) == nil {
			return seal, nil
		}
	}
	if err != nil {
		return Seal{}, fmt.Errorf("cannot write the seal of %s at entry %d: %w", s.Prefix(), head.Seq, err)
	}
	return seal, nil
}

// LoadPrivateKey reads an Ed25519 private key (PEM, PKCS #8: `openssl genpkey -algorithm ed25519`).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	k, err := loadKey(path, func(der []byte) (any, error) { return x509.ParsePKCS8PrivateKey(der) })
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("cannot use key %s: it is a %T, not an Ed25519 private key", path, k)
	}
	return priv, nil
}

// LoadPublicKey reads an Ed25519 public key (PEM, PKIX: `openssl pkey -pubout`).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	k, err := loadKey(path, func(der []byte) (any, error) { return x509.ParsePKIXPublicKey(der) })
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("cannot use key %s: it is a %T, not an Ed25519 public key", path, k)
	}
	return pub, nil
}

func loadKey(path string, parse func([]byte) (any, error)) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read key %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("cannot read key %s: no PEM block", path)
	}
	k, err := parse(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse key %s: %w", path, err)
	}
	return k, nil
}

// checkSeals compares seals (read from the bucket) and anchors (given by the auditor) with the
// entries: each must name an entry that is there with that hash.
func checkSeals(ctx context.Context, bkt objstore.Bucket, s Stream, entries map[uint64]Entry, maxSeq uint64, opts VerifyOptions) ([]Problem, error) {
	var problems []Problem
	var seals []Seal
	err := bkt.Iter(ctx, s.Prefix()+"seals/", func(name string) error {
		data, err := read(ctx, bkt, name)
		if err != nil {
			return err
		}
		var seal Seal
		if err := json.Unmarshal(data, &seal); err != nil || name != s.SealName(seal.Seq) || seal.Writer != s.Writer {
			problems = append(problems, Problem{Kind: ProblemSealUnreadable, Object: name, Actual: firstLine(data)})
			return nil
		}
		if opts.SealKey != nil {
			sig, _ := base64.StdEncoding.DecodeString(seal.Signature)
			if !ed25519.Verify(opts.SealKey, []byte(seal.SignedText()), sig) {
				problems = append(problems, Problem{Kind: ProblemSealSignature, Object: name, Seq: seal.Seq,
					Expected: "a signature by key " + KeyID(opts.SealKey), Actual: "key " + seal.KeyID})
				return nil
			}
		}
		seals = append(seals, seal)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the seals of %s: %w", s.Prefix(), err)
	}
	for _, a := range opts.Anchors {
		if a.Tenant == s.Tenant && a.Cluster == s.Cluster && a.Writer == s.Writer {
			seals = append(seals, a)
		}
	}
	for _, seal := range seals {
		where := s.SealName(seal.Seq)
		if seal.Time == "" {
			where = "anchor"
		}
		e, ok := entries[seal.Seq]
		switch {
		case seal.Seq > maxSeq:
			problems = append(problems, Problem{Kind: ProblemTruncated, Seq: seal.Seq, Object: where, Manifest: s.ManifestName(seal.Seq),
				Expected: seal.Hash, Actual: fmt.Sprintf("the manifest ends at entry %d", maxSeq)})
		case !ok:
			// A gap, reported as manifest_gap.
		case seal.Hash == "":
			// An anchor that knows only how far the chain reached (a scraped vigil_archive_sealed_entry).
		case e.Hash != seal.Hash:
			problems = append(problems, Problem{Kind: ProblemSealMismatch, Seq: seal.Seq, Object: where, Manifest: s.ManifestName(seal.Seq),
				Expected: seal.Hash, Actual: e.Hash})
		}
	}
	return problems, nil
}
