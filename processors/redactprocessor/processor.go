package redactprocessor

import (
	"bytes"
	"context"
	"encoding/json"
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
)

// Type is the component type of the processor in YAML.
var Type = component.MustNewType("redact")

// Annotation is added to the annotations of a redacted event; its value lists the removed paths.
const Annotation = "audit.vigil.dev/redacted"

// NewFactory returns the factory of the redact processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, component.StabilityLevelBeta))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	meter := set.MeterProvider.Meter("github.com/vigil-obs/vigil/processors/redactprocessor")
	events, err := meter.Int64Counter("vigil_redact_events",
		metric.WithDescription("Audit events looked at by the redact processor, by result: redacted, clean, undecodable."),
		metric.WithUnit("{events}"))
	if err != nil {
		return nil, err
	}
	r := &redactor{rules: cfg.(*Config).Rules, events: events}
	return processorhelper.NewLogs(ctx, set, cfg, next, r.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}

type redactor struct {
	rules  []Rule
	events metric.Int64Counter
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

// fields returns what to remove from an event about resource in group, nil if nothing.
func (r *redactor) fields(resource, group string) []string {
	var out []string
	for _, rule := range r.rules {
		if slices.Contains(rule.Resources, resource) && (len(rule.APIGroups) == 0 || slices.Contains(rule.APIGroups, group)) {
			out = append(out, rule.Fields...)
		}
	}
	return out
}

func (r *redactor) record(ctx context.Context, lr plog.LogRecord) {
	res, ok := lr.Attributes().Get("k8s.audit.object.resource")
	if !ok {
		return
	}
	group := ""
	if g, ok := lr.Attributes().Get("k8s.audit.object.api_group"); ok {
		group = g.AsString()
	}
	fields := r.fields(res.AsString(), group)
	if len(fields) == 0 {
		return
	}
	body := lr.Body().AsString()
	if !strings.Contains(body, "Object") { // no requestObject/responseObject: Metadata level
		r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "clean")))
		return
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		// Not JSON: it cannot carry an object we could redact selectively; drop the body entirely.
		lr.Body().SetStr(`{"annotations":{"` + Annotation + `":"undecodable event body removed"}}`)
		lr.Attributes().PutStr("k8s.audit.redacted", "body")
		r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "undecodable")))
		return
	}
	var removed []string
	for _, key := range []string{"requestObject", "responseObject"} {
		obj, ok := ev[key].(map[string]any)
		if !ok {
			continue
		}
		removed = append(removed, strip(obj, key, fields)...)
		if items, ok := obj["items"].([]any); ok { // a list response
			for i, it := range items {
				if m, ok := it.(map[string]any); ok {
					if n := strip(m, key, fields); len(n) > 0 {
						removed = append(removed, key+".items["+itoa(i)+"]."+strings.Join(fields, "|"))
					}
				}
			}
		}
	}
	if len(removed) == 0 {
		r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "clean")))
		return
	}
	sort.Strings(removed)
	ann, _ := ev["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann[Annotation] = strings.Join(removed, ",")
	ev["annotations"] = ann
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(ev)
	lr.Body().SetStr(strings.TrimSuffix(buf.String(), "\n"))
	lr.Attributes().PutStr("k8s.audit.redacted", strings.Join(removed, ","))
	r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "redacted")))
}

// strip deletes fields from obj and returns their paths under prefix.
func strip(obj map[string]any, prefix string, fields []string) []string {
	var out []string
	for _, f := range fields {
		if _, ok := obj[f]; ok {
			delete(obj, f)
			out = append(out, prefix+"."+f)
		}
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
