package k8sauditreceiver

import (
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// dedup remembers the keys of events stored in the last window, so that an event the apiserver
// re-sends is stored once. It keeps two generations of keys and rotates them every window, so a
// key is remembered for at least one window and at most two; maxKeys bounds the memory (reached,
// the older generation is dropped early). Safe for concurrent use.
type dedup struct {
	window  time.Duration
	maxKeys int
	now     func() time.Time

	seed      maphash.Seed
	mu        sync.Mutex
	cur, prev map[string]struct{}
	rotated   time.Time
}

func newDedup(window time.Duration, maxKeys int, now func() time.Time) *dedup {
	return &dedup{window: window, maxKeys: maxKeys, now: now, seed: maphash.MakeSeed(),
		cur: map[string]struct{}{}, prev: map[string]struct{}{}, rotated: now()}
}

// filter returns the events whose keys were not stored within the window, and how many were dropped.
func (d *dedup) filter(events []Event) ([]Event, int) {
	if d.window <= 0 {
		return events, 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotateLocked()
	kept := events[:0:0]
	// The same event twice in one list: by a hash of the key, confirmed by comparing the keys.
	seen := make(map[uint64]int, len(events))
	var buf []byte
	for _, e := range events {
		buf = e.appendKey(buf[:0])
		if _, ok := d.cur[string(buf)]; ok {
			continue
		}
		if _, ok := d.prev[string(buf)]; ok {
			continue
		}
		h := maphash.Bytes(d.seed, buf)
		if k, ok := seen[h]; ok && (kept[k].sameKey(&e) || slices.ContainsFunc(kept, func(o Event) bool { return o.sameKey(&e) })) {
			continue
		}
		seen[h] = len(kept)
		kept = append(kept, e)
	}
	return kept, len(events) - len(kept)
}

// remember records events as stored. Call it only after the next stage accepted them: an event
// whose first delivery failed must be accepted when it is sent again.
func (d *dedup) remember(events []Event) {
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotateLocked()
	var buf []byte
	for _, e := range events {
		if len(d.cur) >= d.maxKeys {
			d.prev, d.cur, d.rotated = d.cur, make(map[string]struct{}, len(d.cur)), d.now()
		}
		buf = e.appendKey(buf[:0])
		d.cur[string(buf)] = struct{}{} // a copy: the key does not keep the request's memory
	}
}

func (d *dedup) rotateLocked() {
	now := d.now()
	switch {
	case now.Sub(d.rotated) >= 2*d.window:
		d.prev, d.cur, d.rotated = map[string]struct{}{}, map[string]struct{}{}, now
	case now.Sub(d.rotated) >= d.window:
		d.prev, d.cur, d.rotated = d.cur, make(map[string]struct{}, len(d.cur)), now
	}
}
