package promrwreceiver

import (
	"fmt"
	"math"
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
	if uint64(len(raw)) > math.MaxUint32 { // beyond what spans address (max_decompressed_bytes > 4 GiB)
		return convertSeries(raw, ProtocolV1, cluster, lim)
	}
	bodies, types, err := splitV1(raw)
	if err != nil {
		return pmetric.Metrics{}, nil, 0, errV1(err)
	}
	w := wireConverter{c: newConverter(len(bodies)), raw: raw, cluster: cluster, lim: lim, types: types}
	// Rejections in the order convertSeries gives them: the decoder's, then admit's.
	var decodeRej, admitRej []rejection
	status := http.StatusBadRequest
	var sb *labels.ScratchBuilder // for the decoded path, made when first needed
	for _, sp := range bodies {
		if w.add(sp) {
			continue
		}
		if sb == nil {
			b := labels.NewScratchBuilder(16)
			sb = &b
		}
		s, r, ok, err := seriesOf(w.bytes(sp), types, lim, sb)
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

// span is where something lies in the request: raw[off:off+n]. Spans rather than slices or
// strings keep the conversion's buffers free of pointers: filling them costs no GC write
// barriers.
type span struct{ off, n uint32 }

// wireLabel is a label read in place.
type wireLabel struct{ name, value span }

// wireConverter converts the common RW 1.0 series from the wire. Its buffers are reused from
// series to series.
type wireConverter struct {
	c       *converter
	raw     []byte
	cluster string
	lim     limits
	types   map[string]prompb.MetricMetadata
	ls      []wireLabel
	samples []sample
	// names are the label names of the last series whose names passed the checks, classes what
	// each one is, clusterAt where the cluster label goes in them (the index of the first name
	// after it).
	names     []span
	classes   []labelClass
	clusterAt int
	// owned holds copies of the data point labels of the series being converted, by position;
	// a copy made for the series before is kept when it is the same: series of one target or
	// one metric share most of them, so most labels are not copied again.
	owned []labels.Label
}

func (w *wireConverter) bytes(sp span) []byte { return w.raw[sp.off : sp.off+sp.n] }

// str is the span as a string in place: valid while raw is, not to be kept.
func (w *wireConverter) str(sp span) string { return inPlace(w.bytes(sp)) }

// add converts the TimeSeries at sp and reports true, or reports false, having changed nothing
// the result holds, when the series is not one it converts: the decoded path then takes it.
func (w *wireConverter) add(sp span) bool {
	ls, samples := w.ls[:0], w.samples[:0]
	body := w.bytes(sp)
	for i := 0; i < len(body); {
		var num protowire.Number
		var typ protowire.Type
		if t := body[i]; t >= 8 && t < 0x80 { // a one-byte tag of a field number above 0
			num, typ = protowire.Number(t>>3), protowire.Type(t&7)
			i++
		} else {
			var n int
			if num, typ, n = consumeTag(body[i:]); n < 0 {
				return false
			}
			i += n
		}
		if typ == protowire.BytesType && (num == fieldLabels || num == fieldSamples) {
			x, n := protowire.ConsumeVarint(body[i:])
			if n < 0 || x > uint64(len(body)-i-n) { //nolint:gosec // i ≤ len(body)
				return false
			}
			i += n
			v := body[i : i+int(x)]
			if num == fieldLabels {
				if len(ls) == w.lim.maxLabels {
					return false
				}
				l, ok := labelSpans(v, sp.off+uint32(i)) //nolint:gosec // i < len(body)
				if !ok {
					return false
				}
				ls = append(ls, l)
			} else {
				s, err := sampleOf(v)
				if err != nil {
					return false
				}
				samples = append(samples, s)
			}
			i += int(x)
			continue
		}
		if typ == protowire.BytesType && (num == fieldExemplars || num == fieldHistograms) {
			return false
		}
		n := skipValue(typ, body[i:])
		if n < 0 {
			return false
		}
		i += n
	}
	w.ls, w.samples = ls, samples
	// The checks of checkLabels' common case and admit's: names sorted, distinct and valid, a
	// metric name, no other cluster, samples in order. Names checked and classified for the
	// series before are not checked again: series of one metric family have the same names.
	if !w.sameNames(ls) && !w.checkNames(ls) {
		return false
	}
	var name, claimed span
	for i, cl := range w.classes {
		switch cl {
		case classMetricName:
			name = ls[i].value
		case classCluster:
			claimed = ls[i].value
		}
	}
	if name.n == 0 || claimed.n > 0 && w.str(claimed) != w.cluster {
		return false
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].t <= samples[i-1].t {
			return false
		}
	}

	c := w.c
	stamp := claimed.n == 0
	dp := w.split(stamp, false)
	r, ok := c.lookupResource()
	if !ok {
		w.split(stamp, true)
		r = c.addResource()
	}
	metricName := w.str(name)
	var typ model.MetricType
	var help string
	if len(w.types) > 0 {
		if md, ok := w.types[familyOf(metricName, w.types)]; ok {
			typ, help = metadataType(md.Type), md.Help
		}
	}
	if len(samples) == 0 {
		return true
	}
	kind := kindOf(metricName, typ)
	m := c.metricFor(r, metricName, kind, typ, help)
	var dps pmetric.NumberDataPointSlice
	if kind == pmetric.MetricTypeSum {
		dps = m.Sum().DataPoints()
	} else {
		dps = m.Gauge().DataPoints()
	}
	for _, s := range samples {
		p := dps.AppendEmpty()
		putAttributes(p.Attributes(), w.owned[:dp])
		setSample(p, s)
	}
	return true
}

// split is the identity split of converter.addSeries, on the labels as admit would stamp them
// (stamp: the series names no cluster): with the credentials' cluster in its place in the order
// and the labels with an empty value dropped (labels.Builder drops them); else unchanged.
// Without identity it makes the resource key (c.key) and the data point labels (w.owned[:n], n
// returned); with identity, the identity labels (c.idLabels) that a new resource needs.
func (w *wireConverter) split(stamp, identity bool) int {
	c := w.c
	if identity {
		c.idLabels = c.idLabels[:0]
	} else {
		c.key = c.key[:0]
	}
	dp := 0
	for i, l := range w.ls {
		if stamp {
			if i == w.clusterAt {
				w.identity(identity, promlabels.ClusterLabel, w.cluster)
			}
			if l.value.n == 0 {
				continue
			}
		}
		switch w.classes[i] {
		case classIdentity, classCluster:
			w.identity(identity, w.str(l.name), w.str(l.value))
		case classPoint:
			if !identity {
				w.own(dp, l)
				dp++
			}
		}
	}
	if stamp && w.clusterAt == len(w.ls) {
		w.identity(identity, promlabels.ClusterLabel, w.cluster)
	}
	return dp
}

func (w *wireConverter) identity(list bool, name, value string) {
	if list {
		w.c.idLabels = append(w.c.idLabels, labels.Label{Name: name, Value: value})
	} else {
		w.c.key = appendKey(w.c.key, name, value)
	}
}

// own makes w.owned[i] a copy of l, keeping the copy made for the series before when it is the
// same.
func (w *wireConverter) own(i int, l wireLabel) {
	name, value := w.str(l.name), w.str(l.value)
	if i == len(w.owned) {
		w.owned = append(w.owned, labels.Label{Name: strings.Clone(name), Value: strings.Clone(value)})
		return
	}
	o := &w.owned[i]
	if o.Name != name {
		o.Name = strings.Clone(name)
	}
	if o.Value != value {
		o.Value = strings.Clone(value)
	}
}

// labelSpans reads the Label message v (= raw[at:at+len(v)]) as labelOf does, as spans.
func labelSpans(v []byte, at uint32) (wireLabel, bool) {
	// As Marshal writes it: name then value, each shorter than 128 bytes.
	if len(v) >= 4 && v[0] == fieldName<<3|byte(protowire.BytesType) && v[1] < 0x80 {
		nl := uint32(v[1])
		if 4+int(nl) <= len(v) && v[2+nl] == fieldValue<<3|byte(protowire.BytesType) && v[3+nl] < 0x80 && 4+int(nl)+int(v[3+nl]) == len(v) {
			return wireLabel{name: span{at + 2, nl}, value: span{at + 4 + nl, uint32(v[3+nl])}}, true
		}
	}
	var l wireLabel
	for i := 0; i < len(v); {
		num, typ, n := consumeTag(v[i:])
		if n < 0 {
			return l, false
		}
		i += n
		if typ == protowire.BytesType && (num == fieldName || num == fieldValue) {
			x, n := protowire.ConsumeVarint(v[i:])
			if n < 0 || x > uint64(len(v)-i-n) { //nolint:gosec // i ≤ len(v)
				return l, false
			}
			i += n
			sp := span{at + uint32(i), uint32(x)} //nolint:gosec // bounded by len(v)
			if num == fieldName {
				l.name = sp
			} else {
				l.value = sp
			}
			i += int(x)
			continue
		}
		n = skipValue(typ, v[i:])
		if n < 0 {
			return l, false
		}
		i += n
	}
	return l, true
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
		if w.str(ls[i].name) != w.str(w.names[i]) {
			return false
		}
	}
	return true
}

// checkNames checks that the names of ls are sorted, distinct and valid, and classifies them.
func (w *wireConverter) checkNames(ls []wireLabel) bool {
	w.names, w.classes, w.clusterAt = w.names[:0], w.classes[:0], len(ls)
	prev := ""
	for i, l := range ls {
		name := w.str(l.name)
		if i == 0 && name == "" || i > 0 && name <= prev || !validLabelName(name) {
			w.names, w.classes = w.names[:0], w.classes[:0]
			return false
		}
		prev = name
		cl := classPoint
		switch {
		case name == model.MetricNameLabel:
			cl = classMetricName
		case name == promlabels.ClusterLabel:
			cl = classCluster
		case isIdentity(name):
			cl = classIdentity
		}
		if w.clusterAt == len(ls) && name > promlabels.ClusterLabel {
			w.clusterAt = i
		}
		w.names = append(w.names, l.name)
		w.classes = append(w.classes, cl)
	}
	return true
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
