package redactprocessor

import (
	"context"
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/processors/redactprocessor/internal/metadata"
)

// Type is the component type of the processor in YAML.
var Type = metadata.Type

const (
	// Annotation is added to the annotations of a redacted event; its value lists the removed paths.
	Annotation = "audit.vigil.dev/redacted"
	// RemovedAnnotation is added to the annotations of an event whose request or response object
	// was removed whole because its shape was not understood; its value says which and why
	// ("responseObject: ...; requestObject: ...").
	RemovedAnnotation = "audit.vigil.dev/removed"
	// AttrRedacted is the record attribute listing the removed paths (as Annotation).
	AttrRedacted = "k8s.audit.redacted"
	// AttrRemoved is the record attribute listing the objects removed whole, each with its
	// reason ("requestObject:invalid_json_patch").
	AttrRemoved = "k8s.audit.redaction.removed"

	// webhookPatch prefixes the event annotations in which the apiserver records the JSON patch
	// of a mutating admission webhook (at level Request and above).
	webhookPatch = "patch.webhook.admission.k8s.io/"
)

// The record attributes the k8saudit receiver sets from objectRef.
const (
	attrResource    = "k8s.audit.object.resource"
	attrAPIGroup    = "k8s.audit.object.api_group"
	attrSubresource = "k8s.audit.object.subresource"
)

// NewFactory returns the factory of the redact processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &redactor{match: newMatcher(cfg.(*Config).Rules), events: tb.RedactEvents, removedObjects: tb.RedactRemovedObjects}
	return processorhelper.NewLogs(ctx, set, cfg, next, r.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}

type redactor struct {
	match          matcher
	events         metric.Int64Counter
	removedObjects metric.Int64Counter
}

func (r *redactor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				r.record(ctx, lrs.At(k))
			}
		}
	}
	return ld, nil
}

func (r *redactor) result(ctx context.Context, result string) {
	r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}

func (r *redactor) record(ctx context.Context, lr plog.LogRecord) {
	attrs := lr.Attributes()
	res, ok := attrs.Get(attrResource)
	if !ok {
		return
	}
	var group, sub string
	if g, ok := attrs.Get(attrAPIGroup); ok {
		group = g.AsString()
	}
	if s, ok := attrs.Get(attrSubresource); ok {
		sub = s.AsString()
	}
	fields := r.match.fields(res.AsString(), sub, group)
	if len(fields) == 0 {
		return
	}
	body := lr.Body().AsString()
	if !mayCarryObjects(body) { // Metadata level: no requestObject/responseObject
		r.result(ctx, "clean")
		return
	}
	v, err := decodeJSON(body)
	ev, isObject := v.(map[string]any)
	if err != nil || !isObject {
		// Not a JSON object: it cannot carry an object we could redact selectively; drop the body entirely.
		lr.Body().SetStr(`{"annotations":{"` + Annotation + `":"undecodable event body removed"}}`)
		attrs.PutStr(AttrRedacted, "body")
		r.result(ctx, "undecodable")
		return
	}
	if !hasObjects(ev) {
		r.result(ctx, "clean")
		return
	}
	out := redactEvent(ev, fields)
	// Always re-serialised: what leaves is exactly what was checked (a duplicate key, say,
	// cannot hide a value from the redactor).
	lr.Body().SetStr(out.body)
	if len(out.removed) == 0 {
		r.result(ctx, "clean")
		return
	}
	attrs.PutStr(AttrRedacted, strings.Join(out.removed, ","))
	if len(out.gone) > 0 {
		var list []string
		for _, g := range out.gone {
			list = append(list, g.what+":"+g.reason)
			r.removedObjects.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", g.reason)))
		}
		attrs.PutStr(AttrRemoved, strings.Join(list, ","))
	}
	r.result(ctx, "redacted")
}

// gone is an object removed whole.
type gone struct{ what, reason, msg string }

type redacted struct {
	body    string
	removed []string // sorted
	gone    []gone
}

// redactEvent redacts the objects of a decoded event of a sensitive resource and returns its
// new body. Objects are taken in the order the apiserver made them: the request, the
// admission webhooks' patches of it, the response.
func redactEvent(ev map[string]any, fields []string) redacted {
	p := newPass(fields)
	var out redacted
	// drop records that what (a key of ev, or of its annotations) was removed whole.
	drop := func(what, reason, msg string) {
		p.removed = slices.DeleteFunc(p.removed, func(s string) bool {
			return strings.HasPrefix(s, what+".") || strings.HasPrefix(s, what+"[")
		})
		p.removed = append(p.removed, what)
		out.gone = append(out.gone, gone{what: what, reason: reason, msg: what + ": " + msg})
	}
	var requests, responses []string
	for k := range ev {
		switch {
		case strings.EqualFold(k, "requestObject"):
			requests = append(requests, k)
		case strings.EqualFold(k, "responseObject"):
			responses = append(responses, k)
		}
	}
	sort.Strings(requests)
	sort.Strings(responses)
	object := func(k string, request bool) {
		before := len(p.removed)
		st := p.enter(k)
		p.err = nil
		if !request && p.moved {
			p.fail(ReasonPatchMovesSecret, "a JSON patch of the request copies or moves a redacted field elsewhere")
		} else {
			p.root(ev[k], request)
		}
		p.leave(st)
		if p.err != nil {
			p.removed = p.removed[:before]
			delete(ev, k)
			drop(k, p.err.reason, p.err.msg)
			p.err = nil
		}
	}
	for _, k := range requests {
		object(k, true)
	}
	ann, _ := ev["annotations"].(map[string]any)
	for _, k := range sortedKeys(ann) {
		if strings.HasPrefix(k, webhookPatch) {
			p.webhookPatch(ann, k, &out)
		}
	}
	for _, k := range responses {
		object(k, false)
	}
	out.body = mark(ev, p, &out)
	if p.leaks(out.body) {
		const msg = "a value removed from a redacted field appears elsewhere in the event"
		for _, k := range append(requests, responses...) {
			if _, ok := ev[k]; ok {
				delete(ev, k)
				drop(k, ReasonValueElsewhere, msg)
			}
		}
		for _, k := range sortedKeys(ann) {
			if strings.HasPrefix(k, webhookPatch) {
				delete(ann, k)
				drop("annotations["+k+"]", ReasonValueElsewhere, msg)
			}
		}
		out.body = mark(ev, p, &out)
	}
	return out
}

// mark adds the annotations that say what was removed, and encodes the event.
func mark(ev map[string]any, p *pass, out *redacted) string {
	out.removed = append([]string(nil), p.removed...)
	sort.Strings(out.removed)
	if len(out.removed) == 0 {
		return encodeJSON(ev)
	}
	ann, _ := ev["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		ev["annotations"] = ann
	}
	ann[Annotation] = strings.Join(out.removed, ",")
	if len(out.gone) > 0 {
		msgs := make([]string, len(out.gone))
		for i, g := range out.gone {
			msgs[i] = g.msg
		}
		ann[RemovedAnnotation] = strings.Join(msgs, "; ")
	}
	return encodeJSON(ev)
}

// webhookPatch redacts the JSON patch that a mutating admission webhook applied, recorded in
// an event annotation as {"configuration":..,"webhook":..,"patch":[..],"patchType":"JSONPatch"};
// an annotation of another shape is removed.
func (p *pass) webhookPatch(ann map[string]any, k string, out *redacted) {
	what := "annotations[" + k + "]"
	s, _ := ann[k].(string)
	doc, err := decodeJSON(s)
	m, ok := doc.(map[string]any)
	var reason, msg string
	switch {
	case err != nil || !ok:
		reason, msg = ReasonUnknownShape, what+": not a JSON object"
	default:
		patch, has := m["patch"]
		if !has {
			return
		}
		ops, ok := patch.([]any)
		if !ok {
			reason, msg = ReasonInvalidJSONPatch, what+": the patch is a JSON "+jsonType(patch)+", not a JSON patch"
			break
		}
		before := len(p.removed)
		st := p.enter(what + ".patch")
		p.err = nil
		p.jsonPatch(ops)
		p.leave(st)
		if p.err == nil {
			if len(p.removed) > before {
				ann[k] = encodeJSON(m)
			}
			return
		}
		p.removed = p.removed[:before]
		reason, msg = p.err.reason, what+": "+p.err.msg
		p.err = nil
	}
	delete(ann, k)
	p.removed = append(p.removed, what)
	out.gone = append(out.gone, gone{what: what, reason: reason, msg: msg})
}

// leaks reports whether a removed value still appears in body, as JSON text or as JSON text
// inside a JSON string.
func (p *pass) leaks(body string) bool {
	for _, v := range p.values {
		once := encodeJSON(v)
		once = once[1 : len(once)-1]
		if strings.Contains(body, once) {
			return true
		}
		if twice := encodeJSON(once); strings.Contains(body, twice[1:len(twice)-1]) {
			return true
		}
	}
	return false
}

// hasObjects reports whether an event has a request or response object (any case: a decoder
// downstream may match keys without it) or a webhook's patch annotation.
func hasObjects(ev map[string]any) bool {
	for k := range ev {
		if strings.EqualFold(k, "requestObject") || strings.EqualFold(k, "responseObject") {
			return true
		}
	}
	ann, _ := ev["annotations"].(map[string]any)
	for k := range ann {
		if strings.HasPrefix(k, webhookPatch) {
			return true
		}
	}
	return false
}

// mayCarryObjects is a quick test that a body without objects (a Metadata-level event) passes:
// it is false only when no key can be requestObject, responseObject or a webhook patch
// annotation, even written with \u escapes of letters.
func mayCarryObjects(body string) bool {
	return hasObjectWord(body) || strings.Contains(body, webhookPatch) || hasLetterEscape(body)
}

// objectWords are the keys of the objects an event can carry, in lower case: encoding/json (and
// so the apiserver's reader of the event) matches keys in any case.
var objectWords = [...]string{"requestobject", "responseobject"}

// hasObjectWord reports whether s contains one of objectWords in any case. Both have a j (rare
// in an audit event: objectRef, once), so the scan jumps from j to j with strings.IndexByte and
// compares the words around each.
func hasObjectWord(s string) bool {
	for _, j := range [...]byte{'j', 'J'} {
		for i := 0; ; {
			k := strings.IndexByte(s[i:], j)
			if k < 0 {
				break
			}
			at := i + k
			for _, w := range objectWords {
				start := at - strings.IndexByte(w, 'j')
				if start >= 0 && start+len(w) <= len(s) && strings.EqualFold(s[start:start+len(w)], w) {
					return true
				}
			}
			i = at + 1
		}
	}
	return false
}

// hasLetterEscape reports whether s holds a \u escape of an ASCII letter (\u0041-\u007a).
func hasLetterEscape(s string) bool {
	for i := strings.Index(s, `\u00`); i >= 0 && i+5 < len(s); {
		if c := s[i+4]; c >= '4' && c <= '7' {
			return true
		}
		j := strings.Index(s[i+1:], `\u00`)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
