package promlabels

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Translator turns OTLP metrics into Prometheus series with Prometheus's own OTLP translation
// (metric names with their unit and type suffixes, job/instance from service.*), the identity
// resource attributes becoming the labels of Identity on every series.
type Translator struct {
	promote  *prw.PromoteResourceAttributes
	external map[string]string
}

// NewTranslator returns a Translator that adds external labels to every series.
func NewTranslator(external map[string]string) *Translator {
	promote := make([]string, 0, len(Identity))
	for _, m := range Identity {
		promote = append(promote, m.Label)
	}
	return &Translator{external: external,
		promote: prw.NewPromoteResourceAttributes(config.OTLPConfig{PromoteResourceAttributes: promote})}
}

// Translate appends every data point of md to app (see Identify for what it does to md). A point
// that cannot be translated is left out and named in the error; the rest is appended.
func (t *Translator) Translate(ctx context.Context, md pmetric.Metrics, app storage.AppenderV2) error {
	restore := t.Identify(md)
	defer restore()
	_, err := prw.NewPrometheusConverter(app).FromMetrics(ctx, md, t.Settings())
	return err
}

// Settings are the OTLP translation's settings: unit and type suffixes, the identity labels
// promoted from the resource, the external labels.
func (t *Translator) Settings() prw.Settings {
	return prw.Settings{
		AddMetricSuffixes:         true,
		ExternalLabels:            t.external,
		PromoteResourceAttributes: t.promote,
		LookbackDelta:             5 * time.Minute,
	}
}

// Identify prepares md for the translation: each resource's identity attributes are renamed to
// their labels — restore puts the resources back as they were — and the identity attributes of
// data points are dropped for good (the resource's are the truth), so that translating the same
// batch again gives the same series.
func (t *Translator) Identify(md pmetric.Metrics) (restore func()) {
	saved := make([]pcommon.Map, 0, md.ResourceMetrics().Len())
	for _, rm := range md.ResourceMetrics().All() {
		attrs := rm.Resource().Attributes()
		orig := pcommon.NewMap()
		attrs.CopyTo(orig)
		saved = append(saved, orig)
		for _, m := range Identity {
			attrs.Remove(m.Label)
			if v, ok := orig.Get(m.Attribute); ok {
				attrs.PutStr(m.Label, v.AsString())
				attrs.Remove(m.Attribute)
			}
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				forEachAttributes(m, dropIdentity)
			}
		}
	}
	return func() {
		for i, rm := range md.ResourceMetrics().All() {
			saved[i].CopyTo(rm.Resource().Attributes())
		}
	}
}

// dropIdentity removes identity attributes, by attribute or label name, from a data point's.
func dropIdentity(attrs pcommon.Map) {
	attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
		if _, ok := AttributeOf(k); ok {
			return true
		}
		_, ok := LabelOf(k)
		return ok
	})
}

func forEachAttributes(m pmetric.Metric, f func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			f(dp.Attributes())
		}
	}
}
