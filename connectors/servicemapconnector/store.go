package servicemapconnector

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// spanKey names a request: its trace and the client span's ID (the server span's parent ID).
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// half is what one side of a request tells about it.
type half struct {
	service, cluster string
	seconds          float64 // the span's duration
	failed           bool
}

// pending is one request of which one side has arrived. Pending requests form a list in the order
// they arrived, which is also the order they expire in (every one waits the same time).
type pending struct {
	key                  spanKey
	client, server       half
	hasClient, hasServer bool
	messaging            bool   // a PRODUCER or CONSUMER side
	peer                 string // the client's virtual node name (virtual_node_peer_attributes)
	expires              int64  // unix nanoseconds
	prev, next           *pending
}

// store holds the pending requests, at most max, each until it expires. It is not safe for
// concurrent use: the connector holds its lock around it.
type store struct {
	m          map[spanKey]*pending
	head, tail *pending // oldest, newest
	free       *pending // released entries, reused (linked by next)
	max        int
}

func newStore(maxPending int) *store {
	return &store{m: make(map[spanKey]*pending), max: maxPending}
}

func (s *store) len() int { return len(s.m) }

func (s *store) get(k spanKey) *pending { return s.m[k] }

// full reports whether adding one more request needs the oldest one to leave first.
func (s *store) full() bool { return len(s.m) >= s.max }

// add stores a new request with key k that expires at expires, and returns it for the caller
// to fill in. The caller checked that k is absent and that the store is not full.
func (s *store) add(k spanKey, expires int64) *pending {
	p := s.free
	if p != nil {
		s.free = p.next
		*p = pending{}
	} else {
		p = &pending{}
	}
	p.key, p.expires = k, expires
	p.prev = s.tail
	if s.tail != nil {
		s.tail.next = p
	} else {
		s.head = p
	}
	s.tail = p
	s.m[k] = p
	return p
}

// remove takes p out of the store; the caller releases it once done with it.
func (s *store) remove(p *pending) {
	delete(s.m, p.key)
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		s.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		s.tail = p.prev
	}
	p.prev, p.next = nil, nil
}

// release returns a removed entry for reuse. At most max entries are ever kept for reuse: the
// free list never holds more than the store held.
func (s *store) release(p *pending) {
	*p = pending{next: s.free}
	s.free = p
}

// oldest is the request that expires first, nil when none waits.
func (s *store) oldest() *pending { return s.head }
