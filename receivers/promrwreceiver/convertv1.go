package promrwreceiver

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil-obs/vigil/internal/promlabels"
)

func errV1(err error) error {
	return fmt.Errorf("cannot decode body as prometheus.WriteRequest (Remote-Write 1.0) protobuf: %w", err)
}

// convertV1 is convert for RW 1.0, from the wire straight to OTLP: a series that holds only
// labels and samples, whose labels are sorted, distinct and valid and whose samples are in order
// (what Prometheus sends) is checked and converted where it lies in raw, without building its
// labels.Labels or its samples. Any other series (exemplars, native histograms, a label or
// sample to refuse, a malformed field) goes through the decoded path (seriesOf, admit,
// converter.addSeries), so the result, rejections and errors are those of convertSeries; the
// tests compare the two.
//
// Strings: the labels are read in place (unsafe strings over raw) for the checks and the keys;
// every string the metrics keep (names, attribute keys and values) is a copy, so nothing in the
// result refers to raw and the caller may reuse it.
func convertV1(raw []byte, cluster string, lim limits) (pmetric.Metrics, []rejection, int, error) {
	bodies, types, err := splitV1(raw)
	if err != nil {
		return pmetric.Metrics{}, nil, 0, errV1(err)
	}
	w := wireConverter{c: newConverter(len(bodies)), cluster: cluster, lim: lim, types: types}
	// Rejections in the order convertSeries gives them: the decoder's, then admit's.
	var decodeRej, admitRej []rejection
	status := http.StatusBadRequest
	var sb *labels.ScratchBuilder // for the decoded path, made when first needed
	for _, body := range bodies {
		if w.add(body) {
			continue
		}
		if sb == nil {
			b := labels.NewScratchBuilder(16)
			sb = &b
		}
		s, r, ok, err := seriesOf(body, types, lim, sb)
		if err != nil {
			return pmetric.Metrics{}, nil, 0, errV1(err)
		}
		if !ok {
			decodeRej = append(decodeRej, r)
			continue
		}
		if admit(&s, cluster, &admitRej, &status) {
			w.c.addSeries(&s)
		}
	}
	rejected := append(decodeRej, admitRej...)
	return w.c.md, withUnsupported(rejected, w.c.unsupported), status, nil
}

// wireLabel is a label read in place.
type wireLabel struct{ name, value string }

// wireConverter converts the common RW 1.0 series from the wire. Its buffers are reused from
// series to series.
type wireConverter struct {
	c       *converter
	cluster string
	lim     limits
	types   map[string]prompb.MetricMetadata
	ls      []wireLabel
	samples []sample
	// names are the label names of the last series whose names passed the checks (in place:
	// raw outlives the conversion), classes what each one is, clusterAt where the cluster label
	// goes in them (the index of the first name after it).
	names     []string
	classes   []labelClass
	clusterAt int
	// owned holds copies of the data point labels of the series before, by position: series of
	// one target or one metric share most of them, so most labels are not copied again.
	owned []labels.Label
}

// add converts one TimeSeries body and reports true, or reports false, having changed nothing,
// when the series is not one it converts: the decoded path then takes it.
func (w *wireConverter) add(body []byte) bool {
	ls, samples := w.ls[:0], w.samples[:0]
	for b := body; len(b) > 0; {
		var num protowire.Number
		var typ protowire.Type
		if b[0] >= 8 && b[0] < 0x80 { // a one-byte tag of a field number above 0
			num, typ, b = protowire.Number(b[0]>>3), protowire.Type(b[0]&7), b[1:]
		} else {
			var n int
			if num, typ, n = consumeTag(b); n < 0 {
				return false
			}
			b = b[n:]
		}
		if typ == protowire.BytesType {
			switch num {
			case fieldLabels:
				v, n := protowire.ConsumeBytes(b)
				if n < 0 || len(ls) == w.lim.maxLabels {
					return false
				}
				b = b[n:]
				name, value, err := labelOf(v)
				if err != nil {
					return false
				}
				ls = append(ls, wireLabel{name, value})
				continue
			case fieldSamples:
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return false
				}
				b = b[n:]
				s, err := sampleOf(v)
				if err != nil {
					return false
				}
				samples = append(samples, s)
				continue
			case fieldExemplars, fieldHistograms:
				return false
			}
		}
		n := skipValue(typ, b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	w.ls, w.samples = ls, samples
	// The checks of checkLabels' common case and admit's: names sorted, distinct and valid, a
	// metric name, no other cluster, samples in order. Names checked and classified for the
	// series before are not checked again: series of one metric family have the same names.
	if !w.sameNames(ls) && !w.checkNames(ls) {
		return false
	}
	name, claimed := "", ""
	for i, cl := range w.classes {
		switch cl {
		case classMetricName:
			name = ls[i].value
		case classCluster:
			claimed = ls[i].value
		}
	}
	if name == "" || claimed != "" && claimed != w.cluster {
		return false
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].t <= samples[i-1].t {
			return false
		}
	}

	// The identity split of converter.addSeries, on the labels as admit would stamp them: with
	// no cluster label, the credentials' cluster in its place in the order and the labels with
	// an empty value dropped (labels.Builder drops them); with the credentials' own, unchanged.
	c := w.c
	c.key, c.dpLabels, c.idLabels = c.key[:0], c.dpLabels[:0], c.idLabels[:0]
	stamp := claimed == ""
	for i, l := range ls {
		if stamp {
			if i == w.clusterAt {
				w.identity(promlabels.ClusterLabel, w.cluster)
			}
			if l.value == "" {
				continue
			}
		}
		switch w.classes[i] {
		case classIdentity, classCluster:
			w.identity(l.name, l.value)
		case classPoint:
			c.dpLabels = append(c.dpLabels, w.own(len(c.dpLabels), l))
		}
	}
	if stamp && w.clusterAt == len(ls) {
		w.identity(promlabels.ClusterLabel, w.cluster)
	}
	ms := c.resource()
	var typ model.MetricType
	var help string
	if len(w.types) > 0 {
		if md, ok := w.types[familyOf(name, w.types)]; ok {
			typ, help = metadataType(md.Type), md.Help
		}
	}
	if len(samples) == 0 {
		return true
	}
	kind := kindOf(name, typ)
	m := c.metricFor(ms, name, kind, typ, help)
	var dps pmetric.NumberDataPointSlice
	if kind == pmetric.MetricTypeSum {
		dps = m.Sum().DataPoints()
	} else {
		dps = m.Gauge().DataPoints()
	}
	for _, s := range samples {
		dp := dps.AppendEmpty()
		putAttributes(dp.Attributes(), c.dpLabels)
		setSample(dp, s)
	}
	return true
}

func (w *wireConverter) identity(name, value string) {
	w.c.idLabels = append(w.c.idLabels, labels.Label{Name: name, Value: value})
	w.c.key = appendKey(w.c.key, name, value)
}

// own returns a copy of the i-th data point label, reusing the copy made for the series before
// when it is the same.
func (w *wireConverter) own(i int, l wireLabel) labels.Label {
	if i == len(w.owned) {
		w.owned = append(w.owned, labels.Label{Name: strings.Clone(l.name), Value: strings.Clone(l.value)})
		return w.owned[i]
	}
	o := &w.owned[i]
	if o.Name != l.name {
		o.Name = strings.Clone(l.name)
	}
	if o.Value != l.value {
		o.Value = strings.Clone(l.value)
	}
	return *o
}

// validLabelName is model.UTF8Validation.IsValidLabelName, with the common (legacy) names
// accepted without decoding UTF-8.
func validLabelName(name string) bool {
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b >= '0' && b <= '9' && i > 0) {
			return model.UTF8Validation.IsValidLabelName(name)
		}
	}
	return len(name) > 0
}

// labelClass is what a label name is to the conversion.
type labelClass uint8

const (
	classPoint      labelClass = iota // a data point attribute
	classIdentity                     // a resource attribute
	classCluster                      // the cluster label, a resource attribute
	classMetricName                   // __name__
)

// sameNames reports whether ls has the names of the last series checked.
func (w *wireConverter) sameNames(ls []wireLabel) bool {
	if len(ls) != len(w.names) {
		return false
	}
	for i := range ls {
		if ls[i].name != w.names[i] {
			return false
		}
	}
	return true
}

// checkNames checks that the names of ls are sorted, distinct and valid, and classifies them.
func (w *wireConverter) checkNames(ls []wireLabel) bool {
	w.names, w.classes, w.clusterAt = w.names[:0], w.classes[:0], len(ls)
	for i, l := range ls {
		if i == 0 && l.name == "" || i > 0 && l.name <= ls[i-1].name || !validLabelName(l.name) {
			w.names, w.classes = w.names[:0], w.classes[:0]
			return false
		}
		cl := classPoint
		switch {
		case l.name == model.MetricNameLabel:
			cl = classMetricName
		case l.name == promlabels.ClusterLabel:
			cl = classCluster
		case isIdentity(l.name):
			cl = classIdentity
		}
		if w.clusterAt == len(ls) && l.name > promlabels.ClusterLabel {
			w.clusterAt = i
		}
		w.names = append(w.names, l.name)
		w.classes = append(w.classes, cl)
	}
	return true
}
