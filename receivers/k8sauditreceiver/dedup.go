package k8sauditreceiver

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/internal/audit"
)

// dedup remembers the events stored in the last window, so that an event the apiserver re-sends
// is stored once, and a different event is never taken for a re-sent one.
//
// An event's identity is its cluster, its (auditID, stage) and its content (its JSON as
// received). The auditID alone does not identify an event: the apiserver takes it from the
// client's Audit-ID request header, so a client can give many requests the same one. Each
// remembered event is a key of (cluster, auditID, stage) holding a fingerprint of its content;
// another content under a taken key goes to the key that follows from the first and its own
// content (place), and is counted in vigil_k8saudit_reused_audit_ids_total. Keys are
// audit.Keys and fingerprints integers: no pointers for the garbage collector to scan.
//
// It keeps two generations and rotates them every window, so an event is remembered for at least
// one window and at most two; maxKeys bounds the memory (reached, the older generation is dropped
// early). Safe for concurrent use.
type dedup struct {
	window  time.Duration
	maxKeys int
	now     func() time.Time
	reused  metric.Int64Counter // nil: not counted

	keys      audit.KeyHasher
	mu        sync.Mutex
	cur, prev map[audit.Key]uint64
	// curAlts and prevAlts count the keys of cur and prev that are next(...) keys: while both are
	// zero (no client reused an Audit-ID lately), a key not taken needs no second look.
	curAlts, prevAlts int
	rotated           time.Time
}

// slot is where an event is remembered: the key, and the fingerprint of its content.
type slot struct {
	key     audit.Key
	content uint64
	alt     bool // key is a next(...) key
}

func newDedup(window time.Duration, maxKeys int, now func() time.Time) *dedup {
	return &dedup{window: window, maxKeys: maxKeys, now: now, keys: audit.NewKeyHasher(),
		cur: map[audit.Key]uint64{}, prev: map[audit.Key]uint64{}, rotated: now()}
}

// instrument creates the counter of events that reuse another event's (auditID, stage).
// filter returns the events of cluster that were not stored within the window, where to remember
// them (for remember), and how many were dropped as sent again. The events kept are moved to the
// front of events, which the caller must not use afterwards.
func (d *dedup) filter(ctx context.Context, cluster string, events []Event) ([]Event, []slot, int) {
	if d.window <= 0 {
		return events, nil, 0
	}
	slots := make([]slot, len(events))
	var buf []byte
	for i := range events { // hashed outside the lock: the content once, in one pass
		buf = appendIdentity(buf[:0], cluster, &events[i])
		slots[i] = slot{key: d.keys.Bytes(buf), content: events[i].contentSum()}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotateLocked()
	kept, keptSlots := events[:0], slots[:0]
	batch := make(map[audit.Key]uint64, len(events)) // the same event twice in one list
	reused := 0
	for i, e := range events {
		s, dup, reuse := d.place(slots[i], reused+d.curAlts+d.prevAlts > 0, batch, d.cur, d.prev)
		if dup {
			continue
		}
		if reuse {
			reused++
		}
		batch[s.key] = s.content
		kept, keptSlots = append(kept, e), append(keptSlots, s)
	}
	if reused > 0 && d.reused != nil {
		d.reused.Add(ctx, int64(reused))
	}
	return kept, keptSlots, len(events) - len(kept)
}

// place finds s's event among the remembered ones (gens): dup when it is there; else the slot to
// remember it in, and reuse when its (auditID, stage) holds another content. All contents of one
// (auditID, stage) share its key k; the first one remembered takes it, the others take next(k,
// their content). A re-sent event is looked for at both, so that it is found also once the
// content at k was forgotten — when gens may hold next keys at all (alts).
func (d *dedup) place(s slot, alts bool, gens ...map[audit.Key]uint64) (_ slot, dup, reuse bool) {
	c, taken := lookup(s.key, gens)
	if taken && c == s.content {
		return s, true, false
	}
	if !taken && !alts {
		return s, false, false
	}
	alt := slot{key: d.next(s.key, s.content), content: s.content, alt: true}
	if c, ok := lookup(alt.key, gens); ok && c == s.content {
		return alt, true, false
	}
	if taken {
		return alt, false, true
	}
	return s, false, false
}

func lookup(k audit.Key, gens []map[audit.Key]uint64) (uint64, bool) {
	for _, g := range gens {
		if c, ok := g[k]; ok {
			return c, true
		}
	}
	return 0, false
}

// next is the key that follows k for the content c.
func (d *dedup) next(k audit.Key, c uint64) audit.Key {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], k[0])
	binary.LittleEndian.PutUint64(b[8:], k[1])
	binary.LittleEndian.PutUint64(b[16:], c)
	return d.keys.Bytes(b[:])
}

// appendIdentity appends the (cluster, auditID, stage) of e, each after its length: no two
// different triples give the same bytes.
func appendIdentity(b []byte, cluster string, e *Event) []byte {
	for _, s := range [...]string{cluster, e.AuditID, e.Stage} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// remember records the events of slots (from filter) as stored. Call it only after the next stage
// accepted them: an event whose first delivery failed must be accepted when it is sent again. A
// key that a concurrent request filled with another content meanwhile is left to it: the event
// goes to the next key, as place would put it now.
func (d *dedup) remember(slots []slot) {
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotateLocked()
	for _, s := range slots {
		if len(d.cur) >= d.maxKeys {
			d.prev, d.cur, d.rotated = d.cur, make(map[audit.Key]uint64, len(d.cur)), d.now()
			d.prevAlts, d.curAlts = d.curAlts, 0
		}
		// Only cur can have been filled since filter looked (prev takes no new keys; a rotation in
		// between is rare, and then the other content's next copy is stored again, never lost).
		if c, taken := d.cur[s.key]; taken && c != s.content {
			s.key, s.alt = d.next(s.key, s.content), true // as place would put it now
		}
		if s.alt {
			if _, had := d.cur[s.key]; !had {
				d.curAlts++
			}
		}
		d.cur[s.key] = s.content
	}
}

func (d *dedup) rotateLocked() {
	now := d.now()
	switch {
	case now.Sub(d.rotated) >= 2*d.window:
		d.prev, d.cur, d.rotated = map[audit.Key]uint64{}, map[audit.Key]uint64{}, now
		d.prevAlts, d.curAlts = 0, 0
	case now.Sub(d.rotated) >= d.window:
		d.prev, d.cur, d.rotated = d.cur, make(map[audit.Key]uint64, len(d.cur)), now
		d.prevAlts, d.curAlts = d.curAlts, 0
	}
}
