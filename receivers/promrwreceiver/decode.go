package promrwreceiver

import (
	"fmt"
	"strings"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Discard reasons of single series or samples (label "reason" of
// vigil_promrw_discarded_samples_total). The rest of their request is kept.
const (
	reasonTooManyLabels   = "too_many_labels"       // more labels than max_labels_per_series
	reasonBadLabels       = "invalid_labels"        // no metric name, an invalid or duplicate label name
	reasonOutOfOrder      = "out_of_order"          // a sample not newer than the previous one of its series
	reasonClusterMismatch = "cluster_mismatch"      // a cluster label other than the credentials' cluster
	reasonUnsupported     = "unsupported_histogram" // a native histogram with custom buckets, an unknown schema, or invalid or too wide spans
)

// Protocol is the remote-write message of a request.
type Protocol int

// The remote-write messages the receiver decodes.
const (
	ProtocolV1 Protocol = 1 // prometheus.WriteRequest (Remote-Write 1.0)
	ProtocolV2 Protocol = 2 // io.prometheus.write.v2.Request (Remote-Write 2.0)
)

// protocolOf reads the Content-Type of a request: RW 1.0 unless it names the v2 message.
func protocolOf(contentType string) (Protocol, error) {
	if contentType == "" {
		return ProtocolV1, nil
	}
	ct := strings.ToLower(contentType)
	if !strings.HasPrefix(ct, "application/x-protobuf") {
		return 0, fmt.Errorf("unsupported Content-Type %q: send application/x-protobuf (Remote-Write 1.0 or 2.0)", contentType)
	}
	switch {
	case !strings.Contains(ct, "proto="), strings.Contains(ct, "proto=prometheus.writerequest"):
		return ProtocolV1, nil
	case strings.Contains(ct, "proto=io.prometheus.write.v2.request"):
		return ProtocolV2, nil
	}
	return 0, fmt.Errorf("unsupported Content-Type %q: proto must be prometheus.WriteRequest or io.prometheus.write.v2.Request", contentType)
}

// errDecodedTooLarge is returned when the snappy block announces more than the limit.
type errDecodedTooLarge struct{ size, limit int }

func (e *errDecodedTooLarge) Error() string {
	return fmt.Sprintf("decompressed request of %d bytes exceeds the limit of %d bytes (max_decompressed_bytes); send smaller batches (Prometheus: queue_config.max_samples_per_send)", e.size, e.limit)
}

// decompress undoes the snappy block compression of remote write into dst when it has the room
// (else into a new buffer), refusing blocks that would decode to more than limit bytes before
// allocating them.
func decompress(dst, body []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("cannot decompress body: not a snappy block (remote write requires Content-Encoding: snappy): %w", err)
	}
	if n > limit {
		return nil, &errDecodedTooLarge{size: n, limit: limit}
	}
	out, err := snappy.Decode(dst[:cap(dst)], body)
	if err != nil {
		return nil, fmt.Errorf("cannot decompress body: corrupt snappy block: %w", err)
	}
	return out, nil
}

// maxPooledRaw bounds the decompressed buffers kept for reuse: a rare huge request does not
// keep its memory held.
const maxPooledRaw = 4 << 20

// rawBuffers are the decompressed requests' buffers (*[]byte), reused from request to request:
// convert keeps no reference to them (TestConvertKeepsNoReferenceToTheBody).
var rawBuffers = sync.Pool{New: func() any { return new([]byte) }}

// decompressPooled is decompress into a pooled buffer; release returns it to the pool once
// nothing reads it any more.
func decompressPooled(body []byte, limit int) (raw []byte, release func(), err error) {
	bufp := rawBuffers.Get().(*[]byte)
	raw, err = decompress(*bufp, body, limit)
	return raw, func() {
		if cap(raw) <= maxPooledRaw && cap(raw) > cap(*bufp) {
			*bufp = raw[:0]
		}
		rawBuffers.Put(bufp)
	}, err
}

// series is one decoded series of either protocol.
type series struct {
	labels    labels.Labels
	typ       model.MetricType // from metadata; "" when not sent
	help      string
	samples   []sample
	hists     []hsample
	exemplars []exemplar
}

type sample struct {
	t int64
	v float64
}

type hsample struct {
	t  int64
	fh *histogram.FloatHistogram
}

type exemplar struct {
	labels labels.Labels
	t      int64
	v      float64
}

// rejection is a series (or some of its samples) left out of the request, with why.
type rejection struct {
	reason  string
	samples int
	msg     string
}

// limits are the per-series limits checked while decoding.
type limits struct {
	maxLabels int
}

// decodeV1 parses a prometheus.WriteRequest with decodeV1Fast, the decoder of the common series
// (labels and samples: what a scrape produces), which reads labels in place instead of
// allocating two strings per label as the generated decoder does; series with exemplars or
// native histograms, and metadata, go through the generated decoder (prompb). It returns an
// error only when the message as a whole cannot be read; bad series are returned as rejections.
func decodeV1(buf []byte, lim limits) ([]series, []rejection, error) {
	return decodeV1Fast(buf, lim)
}

// decodeV1Proto parses a prometheus.WriteRequest with the generated decoder alone: the
// reference that FuzzDecodeV1 compares decodeV1Fast with.
func decodeV1Proto(buf []byte, lim limits) ([]series, []rejection, error) {
	var req prompb.WriteRequest
	if err := req.Unmarshal(buf); err != nil {
		return nil, nil, fmt.Errorf("cannot decode body as prometheus.WriteRequest (Remote-Write 1.0) protobuf: %w", err)
	}
	types := map[string]prompb.MetricMetadata{}
	for _, md := range req.Metadata {
		types[md.MetricFamilyName] = md
	}
	out := make([]series, 0, len(req.Timeseries))
	var rej []rejection
	b := labels.NewScratchBuilder(16)
	for i := range req.Timeseries {
		if s, r, ok := fromProto(&req.Timeseries[i], types, lim, &b); ok {
			out = append(out, s)
		} else {
			rej = append(rej, r)
		}
	}
	return out, rej, nil
}

// fromProto checks and converts one series decoded by prompb.
func fromProto(ts *prompb.TimeSeries, types map[string]prompb.MetricMetadata, lim limits, b *labels.ScratchBuilder) (series, rejection, bool) {
	n := len(ts.Samples) + len(ts.Histograms)
	if len(ts.Labels) > lim.maxLabels {
		return series{}, tooManyLabels(len(ts.Labels), lim.maxLabels, n, func() string { return labelsOfProto(ts.Labels) }), false
	}
	b.Reset()
	for _, l := range ts.Labels {
		b.Add(l.Name, l.Value)
	}
	s := series{labels: b.Labels()}
	if r, ok := checkLabels(s.labels, n); !ok {
		return series{}, r, false
	}
	if md, ok := types[familyOf(s.labels.Get(model.MetricNameLabel), types)]; ok {
		s.typ, s.help = metadataType(md.Type), md.Help
	}
	s.samples = make([]sample, 0, len(ts.Samples))
	for _, smp := range ts.Samples {
		s.samples = append(s.samples, sample{t: smp.Timestamp, v: smp.Value})
	}
	s.hists = appendHistograms(s.hists, ts.Histograms)
	for _, e := range ts.Exemplars {
		b.Reset()
		for _, l := range e.Labels {
			b.Add(l.Name, l.Value)
		}
		b.Sort()
		s.exemplars = append(s.exemplars, exemplar{labels: b.Labels(), t: e.Timestamp, v: e.Value})
	}
	return s, rejection{}, true
}

// decodeV2 parses an io.prometheus.write.v2.Request.
func decodeV2(buf []byte, lim limits) ([]series, []rejection, error) {
	var req writev2.Request
	if err := req.Unmarshal(buf); err != nil {
		return nil, nil, fmt.Errorf("cannot decode body as io.prometheus.write.v2.Request (Remote-Write 2.0) protobuf: %w", err)
	}
	out := make([]series, 0, len(req.Timeseries))
	var rej []rejection
	b := labels.NewScratchBuilder(16)
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		n := len(ts.Samples) + len(ts.Histograms)
		if len(ts.LabelsRefs)/2 > lim.maxLabels {
			rej = append(rej, tooManyLabels(len(ts.LabelsRefs)/2, lim.maxLabels, n, func() string { return "" }))
			continue
		}
		ls, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			rej = append(rej, rejection{reason: reasonBadLabels, samples: n, msg: "series labels: " + err.Error()})
			continue
		}
		s := series{labels: ls}
		if r, ok := checkLabels(s.labels, n); !ok {
			rej = append(rej, r)
			continue
		}
		if md, err := ts.ToMetadata(req.Symbols); err == nil {
			s.typ, s.help = md.Type, md.Help
			if s.typ == model.MetricTypeUnknown {
				s.typ = ""
			}
		}
		s.samples = make([]sample, 0, len(ts.Samples))
		for _, smp := range ts.Samples {
			s.samples = append(s.samples, sample{t: smp.Timestamp, v: smp.Value})
		}
		s.hists = appendHistograms(s.hists, ts.Histograms)
		for _, e := range ts.Exemplars {
			ex, err := e.ToExemplar(&b, req.Symbols)
			if err != nil {
				continue
			}
			s.exemplars = append(s.exemplars, exemplar{labels: ex.Labels, t: ex.Ts, v: ex.Value})
		}
		out = append(out, s)
	}
	return out, rej, nil
}

// protoHistogram is a native histogram of either protocol (prompb.Histogram,
// writev2.Histogram): integer or float counts.
type protoHistogram interface {
	IsFloatHistogram() bool
	ToFloatHistogram() *histogram.FloatHistogram
	ToIntHistogram() *histogram.Histogram
	GetTimestamp() int64
}

// appendHistograms appends the histograms of a series of either protocol, as float histograms.
func appendHistograms[H any, P interface {
	*H
	protoHistogram
}](dst []hsample, hs []H) []hsample {
	for i := range hs {
		h := P(&hs[i])
		var fh *histogram.FloatHistogram
		if h.IsFloatHistogram() {
			fh = h.ToFloatHistogram()
		} else {
			fh = h.ToIntHistogram().ToFloat(nil)
		}
		dst = append(dst, hsample{t: h.GetTimestamp(), fh: fh})
	}
	return dst
}

func tooManyLabels(n, limit, samples int, describe func() string) rejection {
	return rejection{reason: reasonTooManyLabels, samples: samples,
		msg: fmt.Sprintf("series %s has %d labels, more than the limit of %d (max_labels_per_series)", describe(), n, limit)}
}

// checkLabels requires a metric name and valid, distinct label names.
func checkLabels(ls labels.Labels, samples int) (rejection, bool) {
	// The common case in one pass: names sorted and distinct (as Prometheus sends them), all
	// valid, a metric name. Anything else takes the checks below, which name the problem.
	sorted, valid, name, prev, first := true, true, "", "", true
	ls.Range(func(l labels.Label) {
		if !first && l.Name <= prev || first && l.Name == "" {
			sorted = false
		}
		first, prev = false, l.Name
		if valid && !model.UTF8Validation.IsValidLabelName(l.Name) {
			valid = false
		}
		if l.Name == model.MetricNameLabel {
			name = l.Value
		}
	})
	if sorted && valid && name != "" {
		return rejection{}, true
	}
	if ls.Get(model.MetricNameLabel) == "" {
		return rejection{reason: reasonBadLabels, samples: samples, msg: fmt.Sprintf("series %s has no metric name (__name__)", ls)}, false
	}
	if dup, ok := ls.HasDuplicateLabelNames(); ok {
		return rejection{reason: reasonBadLabels, samples: samples, msg: fmt.Sprintf("series %s has the label %q twice", ls, dup)}, false
	}
	var bad string
	ls.Range(func(l labels.Label) {
		if bad == "" && !model.UTF8Validation.IsValidLabelName(l.Name) {
			bad = l.Name
		}
	})
	if bad != "" {
		return rejection{reason: reasonBadLabels, samples: samples, msg: fmt.Sprintf("series %s has an invalid label name %q", ls, bad)}, false
	}
	return rejection{}, true
}

func labelsOfProto(ls []prompb.Label) string {
	for _, l := range ls {
		if l.Name == model.MetricNameLabel {
			return fmt.Sprintf("%q", l.Value)
		}
	}
	return "(no name)"
}

// familyOf is the metric family of a series name whose metadata was sent: the name itself, or
// the name without the _bucket, _sum, _count suffix of a histogram or summary.
func familyOf(name string, types map[string]prompb.MetricMetadata) string {
	if _, ok := types[name]; ok {
		return name
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if _, ok := types[base]; ok {
				return base
			}
		}
	}
	return name
}

func metadataType(t prompb.MetricMetadata_MetricType) model.MetricType {
	switch t {
	case prompb.MetricMetadata_COUNTER:
		return model.MetricTypeCounter
	case prompb.MetricMetadata_GAUGE:
		return model.MetricTypeGauge
	case prompb.MetricMetadata_HISTOGRAM:
		return model.MetricTypeHistogram
	case prompb.MetricMetadata_GAUGEHISTOGRAM:
		return model.MetricTypeGaugeHistogram
	case prompb.MetricMetadata_SUMMARY:
		return model.MetricTypeSummary
	case prompb.MetricMetadata_INFO:
		return model.MetricTypeInfo
	case prompb.MetricMetadata_STATESET:
		return model.MetricTypeStateset
	}
	return ""
}

// keepInOrder drops the samples that are not newer than the one before them in the series and
// returns how many it dropped.
func keepInOrder(s *series) int {
	dropped := 0
	if len(s.samples) > 1 {
		kept := s.samples[:1]
		for _, smp := range s.samples[1:] {
			if smp.t <= kept[len(kept)-1].t {
				dropped++
				continue
			}
			kept = append(kept, smp)
		}
		s.samples = kept
	}
	if len(s.hists) > 1 {
		kept := s.hists[:1]
		for _, h := range s.hists[1:] {
			if h.t <= kept[len(kept)-1].t {
				dropped++
				continue
			}
			kept = append(kept, h)
		}
		s.hists = kept
	}
	return dropped
}
