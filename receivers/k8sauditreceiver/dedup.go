package k8sauditreceiver

import (
	"sync"
	"time"

	"github.com/vigil-obs/vigil/internal/eventkey"
)

// dedup remembers the keys of events stored in the last window (as eventkey.Keys: no pointers
// for the garbage collector to scan), so that an event the apiserver
// re-sends is stored once. It keeps two generations of keys and rotates them every window, so a
// key is remembered for at least one window and at most two; maxKeys bounds the memory (reached,
// the older generation is dropped early). Safe for concurrent use.
type dedup struct {
	window  time.Duration
	maxKeys int
	now     func() time.Time

	keys      eventkey.Hasher
	mu        sync.Mutex
	cur, prev map[eventkey.Key]struct{}
	rotated   time.Time
}

func newDedup(window time.Duration, maxKeys int, now func() time.Time) *dedup {
	return &dedup{window: window, maxKeys: maxKeys, now: now, keys: eventkey.NewHasher(),
		cur: map[eventkey.Key]struct{}{}, prev: map[eventkey.Key]struct{}{}, rotated: now()}
}

// filter returns the events whose keys were not stored within the window, their keys (for
// remember), and how many were dropped. The events kept are moved to the front of events, which
// the caller must not use afterwards.
func (d *dedup) filter(events []Event) ([]Event, []eventkey.Key, int) {
	if d.window <= 0 {
		return events, nil, 0
	}
	keys := make([]eventkey.Key, len(events))
	var buf []byte
	for i := range events { // hashed outside the lock
		buf = events[i].appendKey(buf[:0])
		keys[i] = d.keys.Bytes(buf)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotateLocked()
	kept, keptKeys := events[:0], keys[:0]
	seen := make(map[eventkey.Key]struct{}, len(events)) // the same event twice in one list
	for i, e := range events {
		k := keys[i]
		if _, ok := seen[k]; ok {
			continue
		}
		if _, ok := d.cur[k]; ok {
			continue
		}
		if _, ok := d.prev[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		kept, keptKeys = append(kept, e), append(keptKeys, k)
	}
	return kept, keptKeys, len(events) - len(kept)
}

// remember records the keys (from filter) of events as stored. Call it only after the next stage
// accepted them: an event whose first delivery failed must be accepted when it is sent again.
func (d *dedup) remember(keys []eventkey.Key) {
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotateLocked()
	for _, k := range keys {
		if len(d.cur) >= d.maxKeys {
			d.prev, d.cur, d.rotated = d.cur, make(map[eventkey.Key]struct{}, len(d.cur)), d.now()
		}
		d.cur[k] = struct{}{}
	}
}

func (d *dedup) rotateLocked() {
	now := d.now()
	switch {
	case now.Sub(d.rotated) >= 2*d.window:
		d.prev, d.cur, d.rotated = map[eventkey.Key]struct{}{}, map[eventkey.Key]struct{}{}, now
	case now.Sub(d.rotated) >= d.window:
		d.prev, d.cur, d.rotated = d.cur, make(map[eventkey.Key]struct{}, len(d.cur)), now
	}
}
