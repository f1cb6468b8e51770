package evidenceextension

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/extensions/evidenceextension/internal/metadata"
)

// Type is the component type of the extension in YAML.
var Type = metadata.Type

// Provider is what the extension is to the components that find it with host.GetExtensions():
// the evidence processor writes its Index, the alert exporter reads it.
type Provider interface {
	Index() *Index
}

// NewFactory returns the factory of the evidence extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, func() component.Config { return createDefaultConfig() }, create, metadata.ExtensionStability)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	c := cfg.(*Config)
	x := NewIndex(IndexOptions{MaxLinesPerPod: c.MaxLinesPerPod, MaxLineBytes: c.MaxLineBytes, MaxPods: c.MaxPods, RedactRules: c.RedactRules})
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	observe := func(stat func(Stats) int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(stat(x.Stats()))
			return nil
		}
	}
	err = errors.Join(
		tb.RegisterEvidencePodsCallback(observe(func(st Stats) int64 { return int64(st.Pods) })),
		tb.RegisterEvidenceLinesCallback(observe(func(st Stats) int64 { return st.Stored })),
		tb.RegisterEvidenceRedactedLinesCallback(observe(func(st Stats) int64 { return st.Redacted })),
		tb.RegisterEvidenceTruncatedLinesCallback(observe(func(st Stats) int64 { return st.Cut })),
		tb.RegisterEvidenceEvictedPodsCallback(observe(func(st Stats) int64 { return st.Evicted })),
	)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return &evidence{index: x, telemetry: tb}, nil
}

type evidence struct {
	index     *Index
	telemetry *metadata.TelemetryBuilder
}

var _ Provider = (*evidence)(nil)

func (e *evidence) Index() *Index                             { return e.index }
func (*evidence) Start(context.Context, component.Host) error { return nil }

func (e *evidence) Shutdown(context.Context) error {
	e.telemetry.Shutdown()
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
