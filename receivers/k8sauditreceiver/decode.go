package k8sauditreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/vigil-obs/vigil/internal/audit"
)

// Reasons an event is discarded (label "reason" of vigil_k8saudit_discarded_events_total).
const (
	ReasonTooLarge       = "event_too_large"
	ReasonMissingAuditID = "missing_audit_id"
	ReasonMissingStage   = "missing_stage"
	ReasonMalformed      = "malformed_event"
	// ReasonNotAuditEvent: an item whose kind is not Event, or whose apiVersion is not one of
	// the audit API's (auditAPIVersions). Items without kind and apiVersion, as the apiserver's
	// webhook backend sends them, are audit events.
	ReasonNotAuditEvent = "not_audit_event"
)

// Event is one audit event: its JSON exactly as sent and the fields vigil indexes.
type Event struct {
	Raw                      []byte
	text                     string // Raw as a string (it may share memory with other events')
	bodySum                  uint64 // audit.BodySum(text), when summed
	summed                   bool
	AuditID                  string
	Stage                    string
	Level                    string
	Verb                     string
	RequestURI               string
	Username                 string
	Groups                   []string
	SourceIPs                []string
	UserAgent                string
	Resource                 string
	Namespace                string
	Name                     string
	APIGroup                 string
	APIVersion               string
	Subresource              string
	ResponseCode             int32
	RequestReceivedTimestamp time.Time
	StageTimestamp           time.Time
	// Timestamp is the "timestamp" of audit.k8s.io/v1beta1 (and v1alpha1) events, the time the
	// request reached the apiserver; events of that shape, still found in archives and log files,
	// may carry only it.
	Timestamp time.Time
	// The timestamps as the event wrote them ("" when not known): the attributes take them when
	// they are already in the attributes' form, instead of formatting the times again.
	receivedText, stageText string
	// attestable: the fast path read the event as audit.ParseFields reads it, so its record
	// is attested (internal/audit).
	attestable bool
}

// Time is the event's own time: stageTimestamp, else requestReceivedTimestamp, else the v1beta1
// timestamp; received (the time vigil received it) when it has none of them. Never zero when
// received is not.
func (e *Event) Time(received time.Time) time.Time {
	for _, t := range [...]time.Time{e.StageTimestamp, e.RequestReceivedTimestamp, e.Timestamp} {
		if !t.IsZero() {
			return t
		}
	}
	return received
}

// Rejected is an event of the list that was not accepted, and why.
type Rejected struct {
	Index   int    // position in items
	AuditID string // when known
	Reason  string // one of the Reason* constants
	Message string
}

// DecodeError is a problem with the request as a whole: nothing of it is accepted.
type DecodeError struct{ Msg string }

func (e *DecodeError) Error() string { return e.Msg }

// TooManyEventsError refuses a request whose list has more items than Limits.MaxEvents:
// nothing of it is accepted, and Decode stops reading it at the first item over the limit.
type TooManyEventsError struct{ Limit int }

func (e *TooManyEventsError) Error() string {
	return fmt.Sprintf("cannot take the request: its EventList has more than %d items, the limit (max_events_per_request); "+
		"lower the apiserver's --audit-webhook-batch-max-size", e.Limit)
}

// Limits bound what Decode accepts.
type Limits struct {
	MaxEventBytes int // an item larger than this is rejected alone
	MaxEvents     int // a list with more items is refused whole (*TooManyEventsError); 0: no limit
}

type eventList struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Items      rawItems `json:"items"`
}

// rawItems is the items of a list as encoding/json reads them into []json.RawMessage, but without
// a copy of each item (they are slices of the body) and counted: past max items it stops with
// tooMany set, having kept none of them.
type rawItems struct {
	items   [][]byte
	max     int
	tooMany bool
}

// UnmarshalJSON is called by json.Unmarshal, which has checked that the whole body is valid JSON.
func (r *rawItems) UnmarshalJSON(b []byte) error {
	r.items, r.tooMany = nil, false // a repeated key replaces the list, as for a slice
	if string(b) == "null" {
		return nil
	}
	if b[0] != '[' {
		// encoding/json adds the field; the offset is not known here (describeJSONError omits it).
		return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: reflect.TypeFor[[]json.RawMessage]()}
	}
	_, err := audit.EachElement(b, 0, func(start, end int) error {
		if r.max > 0 && len(r.items) == r.max {
			r.tooMany = true
			return errTooMany
		}
		r.items = append(r.items, b[start:end:end])
		return nil
	})
	if r.tooMany {
		r.items = nil
		return nil
	}
	return err
}

var errTooMany = errors.New("too many items")

// jsonKind names the JSON type of the value starting with c, as encoding/json's errors do.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	default:
		return "number"
	}
}

// fields is the part of an audit.k8s.io/v1 Event that vigil reads.
type fields struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Level      string `json:"level"`
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	SourceIPs                []string        `json:"sourceIPs"`
	UserAgent                string          `json:"userAgent"`
	ObjectRef                *objectRef      `json:"objectRef"`
	ResponseStatus           *responseStatus `json:"responseStatus"`
	RequestReceivedTimestamp time.Time       `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time       `json:"stageTimestamp"`
	Timestamp                time.Time       `json:"timestamp"` // audit.k8s.io/v1beta1
	// The timestamps as written, when the fast path read them (see Event).
	receivedText, stageText string
}

type objectRef struct {
	Resource    string `json:"resource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	APIGroup    string `json:"apiGroup"`
	APIVersion  string `json:"apiVersion"`
	Subresource string `json:"subresource"`
}

type responseStatus struct {
	Code int32 `json:"code"`
}

const (
	wantKind      = "EventList"
	wantItemKind  = "Event"
	apiVersion    = "audit.k8s.io/v1"
	apiVersionOld = "audit.k8s.io/v1beta1" // sent by apiservers up to 1.23 (--audit-webhook-version); same fields
)

// auditAPIVersion reports whether v is a version of the audit API whose events vigil reads.
func auditAPIVersion(v string) bool { return v == apiVersion || v == apiVersionOld }

// Decode parses the body of an audit webhook request. A body that is not an audit EventList
// (audit.k8s.io/v1 or v1beta1) returns a *DecodeError naming the problem, one with more than
// limits.MaxEvents items a *TooManyEventsError. Otherwise every item is decoded on its own: good
// items are returned, bad ones (too large, not an object, not an audit Event, without auditID or
// stage) are listed in rejected and do not affect the others. Decode never panics on input.
//
// What it returns is defined by encoding/json (decodeSlow); the usual shapes take a one-pass
// fast path that gives the same answer (fastdecode.go).
func Decode(body []byte, limits Limits) (events []Event, rejected []Rejected, err error) {
	if events, rejected, err, ok := decodeFast(body, limits); ok {
		return events, rejected, err
	}
	return decodeSlow(body, limits)
}

// decodeSlow is Decode with encoding/json.
func decodeSlow(body []byte, limits Limits) (events []Event, rejected []Rejected, err error) {
	list := eventList{Items: rawItems{max: limits.MaxEvents}}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, nil, &DecodeError{Msg: "cannot decode the request body as an audit EventList: " + describeJSONError(body, err)}
	}
	if list.Kind != wantKind || !auditAPIVersion(list.APIVersion) {
		return nil, nil, wrongList(list.Kind, list.APIVersion)
	}
	if list.Items.tooMany {
		return nil, nil, &TooManyEventsError{Limit: limits.MaxEvents}
	}
	events = make([]Event, 0, len(list.Items.items))
	for i, raw := range list.Items.items {
		ev, rej := decodeEvent(i, raw, limits)
		if rej != nil {
			rejected = append(rejected, *rej)
			continue
		}
		events = append(events, ev)
	}
	return events, rejected, nil
}

// wrongList is the error for a body that is not an audit EventList.
func wrongList(kind, version string) error {
	return &DecodeError{Msg: fmt.Sprintf("expected kind %q and apiVersion %q (or %q), got kind %q and apiVersion %q "+
		"(configure the apiserver's audit webhook with --audit-webhook-version=audit.k8s.io/v1)",
		wantKind, apiVersion, apiVersionOld, kind, version)}
}

func decodeEvent(i int, raw []byte, limits Limits) (Event, *Rejected) {
	if limits.MaxEventBytes > 0 && len(raw) > limits.MaxEventBytes {
		return Event{}, &Rejected{Index: i, AuditID: peekAuditID(raw), Reason: ReasonTooLarge,
			Message: fmt.Sprintf("event is %d bytes, over the limit of %d bytes (max_event_bytes)", len(raw), limits.MaxEventBytes)}
	}
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil {
		return Event{}, &Rejected{Index: i, AuditID: peekAuditID(raw), Reason: ReasonMalformed,
			Message: "cannot decode event: " + describeJSONError(raw, err)}
	}
	raw = compactRaw(raw)
	return eventOf(i, raw, string(raw), &f)
}

// eventOf makes the event of item i from its bytes (text: the same as a string) and fields, or
// rejects it.
func eventOf(i int, raw []byte, text string, f *fields) (Event, *Rejected) {
	if (f.Kind != "" && f.Kind != wantItemKind) || (f.APIVersion != "" && !auditAPIVersion(f.APIVersion)) {
		return Event{}, &Rejected{Index: i, AuditID: f.AuditID, Reason: ReasonNotAuditEvent, Message: fmt.Sprintf(
			"item has kind %q and apiVersion %q: not an audit event (kind %q, apiVersion %q or %q)",
			f.Kind, f.APIVersion, wantItemKind, apiVersion, apiVersionOld)}
	}
	if f.AuditID == "" {
		return Event{}, &Rejected{Index: i, Reason: ReasonMissingAuditID, Message: "event has no auditID"}
	}
	if f.Stage == "" {
		return Event{}, &Rejected{Index: i, AuditID: f.AuditID, Reason: ReasonMissingStage, Message: "event has no stage"}
	}
	ev := Event{
		Raw: raw, text: text, AuditID: f.AuditID, Stage: f.Stage, Level: f.Level, Verb: f.Verb, RequestURI: f.RequestURI,
		Username: f.User.Username, Groups: f.User.Groups, SourceIPs: f.SourceIPs, UserAgent: f.UserAgent,
		RequestReceivedTimestamp: f.RequestReceivedTimestamp, StageTimestamp: f.StageTimestamp, Timestamp: f.Timestamp,
		receivedText: f.receivedText, stageText: f.stageText,
	}
	if o := f.ObjectRef; o != nil {
		ev.Resource, ev.Namespace, ev.Name, ev.APIGroup, ev.APIVersion, ev.Subresource =
			o.Resource, o.Namespace, o.Name, o.APIGroup, o.APIVersion, o.Subresource
	}
	if f.ResponseStatus != nil {
		ev.ResponseCode = f.ResponseStatus.Code
	}
	return ev, nil
}

// compactRaw returns the item's own bytes, trimmed of the list's surrounding whitespace, in a
// slice of its own (the request body is not retained).
func compactRaw(raw []byte) []byte {
	return bytes.Clone(bytes.TrimSpace(raw))
}

// peekAuditID finds the auditID of an item that cannot be decoded whole, for the rejection log.
func peekAuditID(raw []byte) string {
	var f struct {
		AuditID string `json:"auditID"`
	}
	_ = json.Unmarshal(raw, &f)
	return f.AuditID
}

// describeJSONError adds the byte offset to a JSON error when the decoder knows it.
func describeJSONError(body []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%v at byte offset %d of %d", syn, syn.Offset, len(body))
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Offset > 0 {
		return fmt.Sprintf("field %q: %v at byte offset %d", typ.Field, typ, typ.Offset)
	}
	if errors.As(err, &typ) {
		return fmt.Sprintf("field %q: %v", typ.Field, typ)
	}
	return err.Error()
}

// contentSum is the keyed hash of the event's text (audit.BodySum), computed once: the
// fingerprint of its content in the deduplication and the start of its attestation.
func (e *Event) contentSum() uint64 {
	if !e.summed {
		if e.text == "" {
			e.text = string(e.Raw)
		}
		e.bodySum, e.summed = audit.BodySum(e.text), true
	}
	return e.bodySum
}
