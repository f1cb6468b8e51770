package k8sauditreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Reasons an event is discarded (label "reason" of vigil_k8saudit_discarded_events_total).
const (
	ReasonTooLarge       = "event_too_large"
	ReasonMissingAuditID = "missing_audit_id"
	ReasonMissingStage   = "missing_stage"
	ReasonMalformed      = "malformed_event"
)

// Event is one audit event: its JSON exactly as sent and the fields vigil indexes.
type Event struct {
	Raw                      []byte
	text                     string // Raw as a string (it may share memory with other events')
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
	// sealable: the fast path read the event as archive.ParseEventFields reads it, so its record
	// is sealed (auditseal).
	sealable bool
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

// Limits bound what Decode accepts.
type Limits struct {
	MaxEventBytes int // an item larger than this is rejected alone
}

type eventList struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Items      []json.RawMessage `json:"items"`
}

// fields is the part of an audit.k8s.io/v1 Event that vigil reads.
type fields struct {
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
	wantKind       = "EventList"
	wantAPIVersion = "audit.k8s.io/v1"
)

// Decode parses the body of an audit webhook request. A body that is not an audit.k8s.io/v1
// EventList returns a *DecodeError naming the problem. Otherwise every item is decoded on its
// own: good items are returned, bad ones (too large, not an object, without auditID or stage)
// are listed in rejected and do not affect the others. Decode never panics on input.
//
// What it returns is defined by encoding/json (decodeSlow); the usual shapes take a one-pass
// fast path that gives the same answer (fastdecode.go).
func Decode(body []byte, limits Limits) (events []Event, rejected []Rejected, err error) {
	if events, rejected, ok := decodeFast(body, limits); ok {
		return events, rejected, nil
	}
	return decodeSlow(body, limits)
}

// decodeSlow is Decode with encoding/json.
func decodeSlow(body []byte, limits Limits) (events []Event, rejected []Rejected, err error) {
	var list eventList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, nil, &DecodeError{Msg: "cannot decode the request body as an audit EventList: " + describeJSONError(body, err)}
	}
	if list.Kind != wantKind || list.APIVersion != wantAPIVersion {
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("expected kind %q and apiVersion %q, got kind %q and apiVersion %q "+
			"(configure the apiserver's audit webhook with --audit-webhook-version=audit.k8s.io/v1)",
			wantKind, wantAPIVersion, list.Kind, list.APIVersion)}
	}
	events = make([]Event, 0, len(list.Items))
	for i, raw := range list.Items {
		ev, rej := decodeEvent(i, raw, limits)
		if rej != nil {
			rejected = append(rejected, *rej)
			continue
		}
		events = append(events, ev)
	}
	return events, rejected, nil
}

func decodeEvent(i int, raw json.RawMessage, limits Limits) (Event, *Rejected) {
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
	if errors.As(err, &typ) {
		return fmt.Sprintf("field %q: %v at byte offset %d", typ.Field, typ, typ.Offset)
	}
	return err.Error()
}
