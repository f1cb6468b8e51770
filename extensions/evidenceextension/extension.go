package evidenceextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/metric"
)

// Type is the component type of the extension in YAML.
var Type = component.MustNewType("evidence")

// Provider is what the extension is to the components that find it with host.GetExtensions():
// the evidence processor writes its Index, the alert exporter reads it.
type Provider interface {
	Index() *Index
}

// NewFactory returns the factory of the evidence extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, func() component.Config { return createDefaultConfig() }, create, component.StabilityLevelAlpha)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	c := cfg.(*Config)
	x := NewIndex(IndexOptions{MaxLinesPerPod: c.MaxLinesPerPod, MaxLineBytes: c.MaxLineBytes, MaxPods: c.MaxPods, RedactRules: c.RedactRules})
	ext := &evidence{index: x}
	meter := set.MeterProvider.Meter("github.com/vigil-obs/vigil/extensions/evidenceextension")
	pods, err := meter.Int64ObservableGauge("vigil_evidence_pods",
		metric.WithDescription("Resources (pods) the recent-context index holds lines of."), metric.WithUnit("{pods}"))
	if err != nil {
		return nil, err
	}
	lines, err := meter.Int64ObservableCounter("vigil_evidence_lines",
		metric.WithDescription("Warning-or-worse log lines stored in the recent-context index."), metric.WithUnit("{lines}"))
	if err != nil {
		return nil, err
	}
	redacted, err := meter.Int64ObservableCounter("vigil_evidence_redacted_lines",
		metric.WithDescription("Lines changed or withheld by the redaction rules before they were stored."), metric.WithUnit("{lines}"))
	if err != nil {
		return nil, err
	}
	cut, err := meter.Int64ObservableCounter("vigil_evidence_truncated_lines",
		metric.WithDescription("Lines cut to max_line_bytes."), metric.WithUnit("{lines}"))
	if err != nil {
		return nil, err
	}
	evicted, err := meter.Int64ObservableCounter("vigil_evidence_evicted_pods",
		metric.WithDescription("Resources forgotten (least recently written first) because max_pods were held."), metric.WithUnit("{pods}"))
	if err != nil {
		return nil, err
	}
	ext.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := x.Stats()
		o.ObserveInt64(pods, int64(st.Pods))
		o.ObserveInt64(lines, st.Stored)
		o.ObserveInt64(redacted, st.Redacted)
		o.ObserveInt64(cut, st.Cut)
		o.ObserveInt64(evicted, st.Evicted)
		return nil
	}, pods, lines, redacted, cut, evicted)
	if err != nil {
		return nil, err
	}
	return ext, nil
}

type evidence struct {
	index *Index
	reg   metric.Registration
}

var _ Provider = (*evidence)(nil)

func (e *evidence) Index() *Index                             { return e.index }
func (*evidence) Start(context.Context, component.Host) error { return nil }

func (e *evidence) Shutdown(context.Context) error {
	if e.reg != nil {
		_ = e.reg.Unregister()
	}
	return nil
}

// Find returns the index of the evidence extension id among the host's extensions.
func Find(host component.Host, id component.ID) (*Index, bool) {
	p, ok := host.GetExtensions()[id].(Provider)
	if !ok {
		return nil, false
	}
	return p.Index(), true
}
