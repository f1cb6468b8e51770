package opensearchexporter

import (
	"strings"
	"sync"
	"time"
)

// waiting tracks the requests pushItems is sending or that the retry sender will send again, for
// vigil_opensearch_oldest_age_seconds: the age of the oldest event OpenSearch has not accepted.
//
// The exporterhelper queue is FIFO and a consumer holds its request until it is delivered or
// dropped, so the oldest waiting event is in a request a consumer is sending or retrying. pushItems
// does not see a request between the retry sender's attempts; it recognises it when it comes
// back by a fingerprint (first and last document id, number of documents). A request is
// forgotten when it is delivered or rejected for good, and also when it was not attempted for
// staleAfter: the retry sender gave up on it (max_elapsed_time) and dropped it, and it must not
// keep the gauge up forever. Requests with the same fingerprint (a replay of the same events) share
// one entry.
//
// Safe for concurrent use.
type waiting struct {
	staleAfter time.Duration

	mu        sync.Mutex
	reqs      map[fingerprint]*waitingRequest
	lastSweep time.Time
}

type fingerprint struct {
	first, last string
	n           int
}

type waitingRequest struct {
	oldest   time.Time // the earliest receipt time of its events
	touched  time.Time // when an attempt last began or ended
	inFlight int       // pushItems calls of this fingerprint running now
}

// staleAfter is how long a request that is not attempted again stays in the gauge: the default,
// or more if the retry sender may wait longer than that between attempts.
func staleAfter(maxInterval, timeout time.Duration) time.Duration {
	const byDefault = 10 * time.Minute
	return max(byDefault, 2*(maxInterval+timeout))
}

func newWaiting(staleAfter time.Duration) *waiting {
	return &waiting{staleAfter: staleAfter, reqs: map[fingerprint]*waitingRequest{}}
}

// fingerprintOf identifies a request by its documents; items must not be empty.
func fingerprintOf(items []item) fingerprint {
	return fingerprint{first: items[0].id, last: items[len(items)-1].id, n: len(items)}
}

// oldestReceived is the earliest receipt time of items; now for items whose receipt time is
// unknown (or in the future).
func oldestReceived(items []item, now time.Time) time.Time {
	oldest := now.UnixNano()
	for _, it := range items {
		if r := int64(it.received); r != 0 && r < oldest {
			oldest = r
		}
	}
	return time.Unix(0, oldest)
}

// begin records an attempt to send the request fp, whose oldest event was received at oldest.
func (w *waiting) begin(fp fingerprint, oldest, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.lastSweep) >= time.Minute {
		w.sweep(now)
	}
	r := w.reqs[fp]
	if r == nil {
		r = &waitingRequest{oldest: oldest}
		// The ids are substrings of one string of all the request's ids (docsRequest.list),
		// which a stale entry must not keep.
		fp.first, fp.last = strings.Clone(fp.first), strings.Clone(fp.last)
		w.reqs[fp] = r
	} else if oldest.Before(r.oldest) {
		r.oldest = oldest
	}
	r.touched = now
	r.inFlight++
}

// end records the end of an attempt begun with begin: done when the request is delivered or
// rejected for good, false when it will be retried.
func (w *waiting) end(fp fingerprint, done bool, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.reqs[fp]
	if r == nil {
		return
	}
	r.inFlight--
	r.touched = now
	if done && r.inFlight == 0 {
		delete(w.reqs, fp)
	}
}

// age is now minus the receipt time of the oldest waiting event, 0 when nothing waits.
func (w *waiting) age(now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sweep(now)
	var oldest time.Time
	for _, r := range w.reqs {
		if oldest.IsZero() || r.oldest.Before(oldest) {
			oldest = r.oldest
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(oldest))
}

// sweep forgets the requests not attempted for staleAfter; under w.mu.
func (w *waiting) sweep(now time.Time) {
	w.lastSweep = now
	for fp, r := range w.reqs {
		if r.inFlight == 0 && now.Sub(r.touched) > w.staleAfter {
			delete(w.reqs, fp)
		}
	}
}
