package audit

import "hash/maphash"

// Key is the fixed-size form of an event's identity (the receiver's auditID/stage and content,
// the archive's line). The large sets of identities vigil keeps to absorb re-sent events (up to
// millions of keys) then cost the garbage collector nothing to scan, and do not keep the memory
// of the requests they came from.
//
// A key is 128 bits of two independently seeded hashes (hash/maphash, seeds random per
// KeyHasher): two different identities share a key with a probability of about n²/2^129 for n
// keys, which for 10^7 keys is below 10^-24; the seeds are not exposed, so input cannot be chosen
// to collide.
type Key [2]uint64

// KeyHasher makes keys. Keys of different KeyHashers are not comparable. Safe for concurrent use.
type KeyHasher struct{ a, b maphash.Seed }

// NewKeyHasher returns a KeyHasher with fresh random seeds.
func NewKeyHasher() KeyHasher { return KeyHasher{a: maphash.MakeSeed(), b: maphash.MakeSeed()} }

// Bytes returns the key of the identity id.
func (h KeyHasher) Bytes(id []byte) Key { return Key{maphash.Bytes(h.a, id), maphash.Bytes(h.b, id)} }

// String returns the key of the identity id; String(s) == Bytes([]byte(s)).
func (h KeyHasher) String(id string) Key {
	return Key{maphash.String(h.a, id), maphash.String(h.b, id)}
}
