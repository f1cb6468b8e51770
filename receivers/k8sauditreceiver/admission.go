package k8sauditreceiver

import (
	"fmt"
	"sync"
)

// What max_inflight_bytes counts for a request being handled (requestCost): its body three
// times (the bytes read, go-json's copy while it validates them, and their copy as text, of
// which the events' strings are slices: decodeFast), and eventCost for each item decoded (the
// Event, and the log record and attributes made of it). TestRequestMemoryIsBounded checks that
// a request allocates no more than that.
const (
	bodyCopies = 3
	eventCost  = 4096
)

// requestCost is the memory counted for a request of bodyBytes whose list has events items.
func requestCost[N int | int64](bodyBytes N, events int) int64 {
	return bodyCopies*int64(bodyBytes) + eventCost*int64(events)
}

// inflight counts the bytes held by the requests being handled, up to limit
// (max_inflight_bytes). Safe for concurrent use.
type inflight struct {
	limit int64
	mu    sync.Mutex
	held  int64
}

// busyError refuses a request (429) that would take the bytes in flight over the limit.
type busyError struct{ need, held, limit int64 }

func (e *busyError) Error() string {
	return fmt.Sprintf("cannot take the request now: the requests being handled hold %d bytes of the limit of %d bytes "+
		"(max_inflight_bytes) and this one needs %d more; retry later, or raise max_inflight_bytes", e.held, e.limit, e.need)
}

// ticket is one request's share of inflight. Not safe for concurrent use.
type ticket struct {
	f    *inflight
	held int64
}

// grow makes the ticket hold at least total bytes, or returns a *busyError (holding what it held).
func (t *ticket) grow(total int64) error {
	need := total - t.held
	if need <= 0 {
		return nil
	}
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held+need > f.limit {
		return &busyError{need: need, held: f.held, limit: f.limit}
	}
	f.held += need
	t.held = total
	return nil
}

// done gives back what the ticket holds.
func (t *ticket) done() {
	if t.held == 0 {
		return
	}
	t.f.mu.Lock()
	t.f.held -= t.held
	t.f.mu.Unlock()
	t.held = 0
}
