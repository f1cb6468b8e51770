package evidenceextension

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vigil-obs/vigil/processors/redactprocessor"
)

// Resource identifies where log lines come from: the resource attributes k8s.cluster.name,
// k8s.namespace.name, k8s.pod.name, service.name and service.instance.id. Empty: not set.
type Resource struct {
	Cluster, Namespace, Pod, Service, Instance string
}

// Levels the index keeps: Loki's level label values of warning or worse (the lokipush
// exporter's mapping of a record's severity).
const (
	LevelWarn  = "warn"
	LevelError = "error"
	LevelFatal = "fatal"
)

// Line is a stored line with its resource.
type Line struct {
	Resource Resource
	Time     time.Time
	Level    string // warn, error or fatal
	Text     string // redacted, at most max_line_bytes
}

// IndexOptions bound an Index; see Config.
type IndexOptions struct {
	MaxLinesPerPod, MaxLineBytes, MaxPods int
	RedactRules                           []redactprocessor.Rule
}

// Index is the recent-context index: per resource, the newest warning-or-worse lines, in an LRU
// of resources. All methods are safe for concurrent use; a Record or a Lookup holds one mutex for
// a bounded time (a Lookup without a pod walks every resource: at most max_pods).
type Index struct {
	opts     IndexOptions
	redactor *redactprocessor.LineRedactor

	mu      sync.Mutex
	byKey   map[Resource]*entry
	byPod   map[string][]*entry // by pod name: the candidates of a query that names a pod
	byInst  map[string][]*entry // by instance: the candidates of a query that names an instance
	newest  *entry              // LRU: most recently written first
	oldest  *entry
	evicted atomic.Int64
	stored  atomic.Int64
	cut     atomic.Int64
	redact  atomic.Int64
}

type entry struct {
	key          Resource
	newer, older *entry
	lines        []line // ring of up to MaxLinesPerPod
	next         int    // where the next line goes
}

type line struct {
	t     int64 // unix ns
	level uint8 // index into levels
	text  string
}

var levels = [...]string{LevelWarn, LevelError, LevelFatal}

// maxRedactBytes bounds the part of a line the redactor reads.
const maxRedactBytes = 64 << 10

// truncated ends a line cut at max_line_bytes.
const truncated = " …[truncated]"

// NewIndex returns an empty index (options as validated by Config.Validate).
func NewIndex(o IndexOptions) *Index {
	return &Index{opts: o, redactor: redactprocessor.NewLineRedactor(o.RedactRules),
		byKey: map[Resource]*entry{}, byPod: map[string][]*entry{}, byInst: map[string][]*entry{}}
}

// Record stores a line of r with its level (the lokipush exporter's level: lines below warn
// are ignored) and time. The line is redacted, then cut to max_line_bytes; nothing of text or
// r is retained (they are copied). It reports whether the line was stored.
func (x *Index) Record(r Resource, t time.Time, level, text string) bool {
	lv := slices.Index(levels[:], level)
	if lv < 0 {
		return false
	}
	if len(text) > maxRedactBytes {
		// Bounded work per line: what is past this is never stored anyway. A JSON object cut
		// here no longer decodes, so the redactor withholds it if it names a rule's field.
		text = text[:maxRedactBytes]
	}
	text, changed := x.redactor.Redact(text)
	if changed {
		x.redact.Add(1)
	}
	if len(text) > x.opts.MaxLineBytes {
		text = cut(text, x.opts.MaxLineBytes)
		x.cut.Add(1)
	} else if !changed {
		text = strings.Clone(text)
	}
	l := line{t: t.UnixNano(), level: uint8(lv), text: text}
	x.mu.Lock()
	e := x.byKey[r]
	if e == nil {
		e = &entry{key: Resource{
			Cluster: strings.Clone(r.Cluster), Namespace: strings.Clone(r.Namespace), Pod: strings.Clone(r.Pod),
			Service: strings.Clone(r.Service), Instance: strings.Clone(r.Instance),
		}, lines: make([]line, 0, x.opts.MaxLinesPerPod)}
		x.byKey[e.key] = e
		addTo(x.byPod, e.key.Pod, e)
		addTo(x.byInst, e.key.Instance, e)
		x.pushNewest(e)
		if len(x.byKey) > x.opts.MaxPods {
			old := x.oldest
			x.unlink(old)
			delete(x.byKey, old.key)
			removeFrom(x.byPod, old.key.Pod, old)
			removeFrom(x.byInst, old.key.Instance, old)
			x.evicted.Add(1)
		}
	} else if x.newest != e {
		x.unlink(e)
		x.pushNewest(e)
	}
	if len(e.lines) < cap(e.lines) {
		e.lines = append(e.lines, l)
	} else {
		e.lines[e.next] = l
	}
	e.next = (e.next + 1) % cap(e.lines)
	x.mu.Unlock()
	x.stored.Add(1)
	return true
}

func addTo(m map[string][]*entry, k string, e *entry) {
	if k != "" {
		m[k] = append(m[k], e)
	}
}

func removeFrom(m map[string][]*entry, k string, e *entry) {
	if k == "" {
		return
	}
	list := slices.DeleteFunc(m[k], func(x *entry) bool { return x == e })
	if len(list) == 0 {
		delete(m, k)
	} else {
		m[k] = list
	}
}

// cut shortens s to at most n bytes, marker included, at a UTF-8 boundary (n > len(truncated)).
func cut(s string, n int) string {
	end := n - len(truncated)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + truncated // a new string: s is not retained
}

func (x *Index) pushNewest(e *entry) {
	e.newer, e.older = nil, x.newest
	if x.newest != nil {
		x.newest.newer = e
	}
	x.newest = e
	if x.oldest == nil {
		x.oldest = e
	}
}

func (x *Index) unlink(e *entry) {
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		x.newest = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		x.oldest = e.newer
	}
	e.newer, e.older = nil, nil
}

// Query selects resources by what an alert's labels say of them. A resource is selected when
// its cluster and namespace do not differ from the query's (a field unset on either side does
// not differ) and:
//   - the query names a pod: the resource has that pod; or, having no pod, the query's instance;
//   - else the query names an instance: the resource has it (and no other service);
//   - else the query names a service: the resource has it;
//   - else the query names a namespace: the resource has it.
type Query struct {
	Resource
	Since time.Time // lines older are left out
	Max   int       // the newest Max lines of all the resources selected
}

// Matches reports whether q selects r.
func (q Query) Matches(r Resource) bool {
	differ := func(a, b string) bool { return a != "" && b != "" && a != b }
	if differ(q.Cluster, r.Cluster) || differ(q.Namespace, r.Namespace) {
		return false
	}
	if q.Pod != "" && r.Pod != "" {
		return q.Pod == r.Pod
	}
	if differ(q.Instance, r.Instance) || differ(q.Service, r.Service) {
		return false
	}
	switch {
	case q.Pod != "" || q.Instance != "":
		return q.Instance != "" && q.Instance == r.Instance
	case q.Service != "":
		return q.Service == r.Service
	}
	return q.Namespace != "" && q.Namespace == r.Namespace
}

// Lookup returns the newest q.Max lines of the resources q selects, oldest first. A query that
// names a pod or an instance reads only those resources; one that names only a service or a
// namespace walks every resource (at most max_pods).
func (x *Index) Lookup(q Query) []Line {
	if q.Max <= 0 || (q.Pod == "" && q.Instance == "" && q.Service == "" && q.Namespace == "") {
		return nil
	}
	since := q.Since.UnixNano()
	var out []Line
	collect := func(e *entry) {
		if !q.Matches(e.key) {
			return
		}
		for _, l := range e.lines {
			if l.t >= since {
				out = append(out, Line{Resource: e.key, Time: time.Unix(0, l.t), Level: levels[l.level], Text: l.text})
			}
		}
	}
	x.mu.Lock()
	switch {
	case q.Pod != "" || q.Instance != "":
		for _, e := range x.byPod[q.Pod] {
			collect(e)
		}
		for _, e := range x.byInst[q.Instance] {
			if e.key.Pod == "" || e.key.Pod != q.Pod { // not collected above
				collect(e)
			}
		}
	default:
		for e := x.newest; e != nil; e = e.older {
			collect(e)
		}
	}
	x.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Line) int { return a.Time.Compare(b.Time) })
	if len(out) > q.Max {
		out = out[len(out)-q.Max:]
	}
	return out
}

// Stats are the index's counters.
type Stats struct {
	Pods     int   // resources held now
	Stored   int64 // lines stored
	Redacted int64 // lines changed (or withheld) by the redaction rules
	Cut      int64 // lines cut to max_line_bytes
	Evicted  int64 // resources forgotten because max_pods were held
}

// Stats returns the index's counters.
func (x *Index) Stats() Stats {
	x.mu.Lock()
	n := len(x.byKey)
	x.mu.Unlock()
	return Stats{Pods: n, Stored: x.stored.Load(), Redacted: x.redact.Load(), Cut: x.cut.Load(), Evicted: x.evicted.Load()}
}
