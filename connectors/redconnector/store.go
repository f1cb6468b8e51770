package redconnector

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The span kinds and status codes as the spanmetrics connector writes them; a value outside the
// protocol's enumeration is written "" (its last index), as there.
var (
	kindNames   = [...]string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER", ""}
	statusNames = [...]string{"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR", ""}
)

const (
	numKinds    = len(kindNames)
	numStatuses = len(statusNames)
)

func kindIndex(k ptrace.SpanKind) int {
	if k < 0 || int(k) >= numKinds-1 {
		return numKinds - 1
	}
	return int(k)
}

func statusIndex(s ptrace.StatusCode) int {
	if s < 0 || int(s) >= numStatuses-1 {
		return numStatuses - 1
	}
	return int(s)
}

// exemplar is one span kept as an exemplar until the next flush.
type exemplar struct {
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	value   float64 // milliseconds
}

// series is the calls counter and duration histogram of one (resource, span name, kind, status).
type series struct {
	attrs     pcommon.Map // materialised once, when the series is created
	start     pcommon.Timestamp
	calls     uint64
	sent      bool // the calls counter was sent once (its first value is 0, as spanmetrics')
	count     uint64
	sum       float64
	buckets   []uint64 // len(bounds)+1
	exemplars []exemplar
}

// byName holds the series of one span name, one per kind and status code.
type byName [numKinds * numStatuses]*series

// resource holds the series of one set of resource attributes.
type resource struct {
	key      [16]byte
	attrs    pcommon.Map // a copy of the resource attributes
	service  string
	names    map[string]*byName
	series   []*series // in creation order, as flushed
	overflow *series   // the spans of new series beyond max_series
	lastSeen uint64    // store.clock when a span of the resource was last counted
	lastNs   int64     // the time of that batch (metrics_expiration)
	index    int       // in store.resources
}

// store is every series held. It is not safe for concurrent use (the connector locks around it).
type store struct {
	bounds     []float64 // milliseconds
	maxEx      int
	maxSeries  int
	maxRes     int
	instanceID string
	resources  []*resource
	byKey      map[[16]byte]*resource
	evicted    []*resource // evicted since the last flush: sent once more, then forgotten
	evictedBy  map[[16]byte]*resource
	nseries    int
	clock      uint64
	evictions  int64 // resources evicted, since the telemetry last took them
}

func newStore(bounds []float64, maxEx, maxSeries, maxRes int, instanceID string) *store {
	return &store{bounds: bounds, maxEx: maxEx, maxSeries: maxSeries, maxRes: maxRes, instanceID: instanceID,
		byKey: make(map[[16]byte]*resource), evictedBy: make(map[[16]byte]*resource)}
}

// resource returns the resource of key, made from attrs (copied) if new.
func (s *store) resource(key [16]byte, attrs pcommon.Map, service string, nowNs int64) *resource {
	s.clock++
	r := s.byKey[key]
	if r == nil {
		if r = s.evictedBy[key]; r != nil {
			// evicted since the last flush and back: it carries on (two data points of one series
			// in one flush would contradict each other), after making room for its series
			s.unevict(r)
			for len(s.resources) > 0 && (len(s.resources) >= s.maxRes || s.nseries+len(r.series) > s.maxSeries) {
				s.evictOldest()
			}
			s.nseries += len(r.series)
		} else {
			if len(s.resources) >= s.maxRes {
				s.evictOldest()
			}
			r = &resource{key: key, attrs: pcommon.NewMap(), service: strings.Clone(service), names: map[string]*byName{}}
			attrs.CopyTo(r.attrs)
		}
		r.index = len(s.resources)
		s.byKey[key] = r
		s.resources = append(s.resources, r)
	}
	r.lastSeen, r.lastNs = s.clock, nowNs
	return r
}

// unevict takes r (at r.index) out of the evicted list.
func (s *store) unevict(r *resource) {
	last := len(s.evicted) - 1
	s.evicted[r.index] = s.evicted[last]
	s.evicted[r.index].index = r.index
	s.evicted[last] = nil
	s.evicted = s.evicted[:last]
	delete(s.evictedBy, r.key)
}

// evictOldest moves the resource seen least recently to the evicted list (r.index: its place
// there).
func (s *store) evictOldest() {
	oldest := 0
	for i, r := range s.resources {
		if r.lastSeen < s.resources[oldest].lastSeen {
			oldest = i
		}
	}
	r := s.resources[oldest]
	s.remove(r)
	r.index = len(s.evicted)
	s.evicted = append(s.evicted, r)
	s.evictedBy[r.key] = r
	s.evictions++
}

// remove takes r out of the held resources.
func (s *store) remove(r *resource) {
	last := len(s.resources) - 1
	s.resources[r.index] = s.resources[last]
	s.resources[r.index].index = r.index
	s.resources[last] = nil
	s.resources = s.resources[:last]
	delete(s.byKey, r.key)
	s.nseries -= len(r.series)
}

// get returns the series of a span of r, creating it (or, beyond max_series, returning the
// resource's overflow series and overflow true). ts is when a new series starts.
func (s *store) get(r *resource, name string, kind, status int, ts pcommon.Timestamp) (sr *series, overflow bool) {
	bn := r.names[name]
	if bn != nil {
		if sr = bn[kind*numStatuses+status]; sr != nil {
			return sr, false
		}
	}
	if s.nseries >= s.maxSeries {
		if r.overflow == nil {
			r.overflow = s.newSeries(ts)
			r.overflow.attrs.PutBool("otel.metric.overflow", true)
		}
		return r.overflow, true
	}
	if bn == nil {
		name = strings.Clone(name)
		bn = new(byName)
		r.names[name] = bn
	}
	sr = s.newSeries(ts)
	a := sr.attrs
	a.EnsureCapacity(5)
	a.PutStr("service.name", r.service)
	a.PutStr("span.name", name)
	a.PutStr("span.kind", kindNames[kind])
	a.PutStr("status.code", statusNames[status])
	a.PutStr("collector.instance.id", s.instanceID)
	bn[kind*numStatuses+status] = sr
	r.series = append(r.series, sr)
	s.nseries++
	return sr, false
}

func (s *store) newSeries(ts pcommon.Timestamp) *series {
	sr := &series{attrs: pcommon.NewMap(), start: ts, buckets: make([]uint64, len(s.bounds)+1)}
	if s.maxEx > 0 {
		sr.exemplars = make([]exemplar, 0, s.maxEx)
	}
	return sr
}

// observe counts n spans of duration ms (milliseconds) in sr.
func (s *store) observe(sr *series, ms float64, n uint64) {
	sr.calls += n
	sr.count += n
	sr.sum += ms * float64(n)
	// the first bound >= ms (a duration equal to a bound is in that bucket: le)
	lo, hi := 0, len(s.bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.bounds[m] < ms {
			lo = m + 1
		} else {
			hi = m
		}
	}
	sr.buckets[lo] += n
}

// expire forgets the resources that have had no span since before cutoff (ns), once they have
// been sent one last time.
func (s *store) expire(cutoff int64) {
	for i := 0; i < len(s.resources); {
		if r := s.resources[i]; r.lastNs < cutoff {
			s.remove(r)
			continue
		}
		i++
	}
}
