package promrwreceiver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of prometheus.WriteRequest, TimeSeries, Label and Sample (prompb/remote.proto,
// prompb/types.proto).
const (
	fieldTimeseries = 1 // WriteRequest.timeseries
	fieldMetadata   = 3 // WriteRequest.metadata
	fieldLabels     = 1 // TimeSeries.labels
	fieldSamples    = 2 // TimeSeries.samples
	fieldExemplars  = 3 // TimeSeries.exemplars
	fieldHistograms = 4 // TimeSeries.histograms
	fieldName       = 1 // Label.name, Sample.value
	fieldValue      = 2 // Label.value, Sample.timestamp
)

var errTruncated = errors.New("truncated or malformed field")

// decodeV1Fast is decodeV1 without the generated decoder for the series that hold only labels
// and samples. Label names and values are read in place (unsafe strings over buf) and copied
// once, into the series' labels.Labels; nothing keeps a reference to buf.
func decodeV1Fast(buf []byte, lim limits) ([]series, []rejection, error) {
	bodies, types, err := splitV1(buf)
	if err != nil {
		return nil, nil, errV1(err)
	}
	out := make([]series, 0, len(bodies))
	var rej []rejection
	sb := labels.NewScratchBuilder(16)
	for _, sp := range bodies {
		s, r, ok, err := seriesOf(buf[sp.off:sp.off+sp.n], types, lim, &sb)
		if err != nil {
			return nil, nil, errV1(err)
		}
		if ok {
			out = append(out, s)
		} else {
			rej = append(rej, r)
		}
	}
	return out, rej, nil
}

// splitV1 reads the fields of a WriteRequest: the series, as their bodies (in place), and the
// metadata, which types them.
func splitV1(buf []byte) ([]span, map[string]prompb.MetricMetadata, error) {
	var bodies []span
	types := map[string]prompb.MetricMetadata{}
	for b := buf; len(b) > 0; {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		b = b[n:]
		if (num == fieldTimeseries || num == fieldMetadata) && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, protowire.ParseError(n)
			}
			b = b[n:]
			if num == fieldTimeseries {
				if bodies == nil {
					bodies = make([]span, 0, len(buf)/64)
				}
				bodies = append(bodies, span{off: uint32(len(buf) - len(b) - len(v)), n: uint32(len(v))}) //nolint:gosec // within buf
				continue
			}
			var md prompb.MetricMetadata
			if err := md.Unmarshal(v); err != nil {
				return nil, nil, err
			}
			types[md.MetricFamilyName] = md
			continue
		}
		n = skipValue(typ, b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return bodies, types, nil
}

// seriesOf decodes one TimeSeries message.
func seriesOf(body []byte, types map[string]prompb.MetricMetadata, lim limits, sb *labels.ScratchBuilder) (series, rejection, bool, error) {
	sb.Reset()
	nLabels, nSamples := 0, 0
	var name string
	// Count first, to size the samples and refuse too many labels before building them.
	for b := body; len(b) > 0; {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return series{}, rejection{}, false, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldExemplars || num == fieldHistograms) {
			var ts prompb.TimeSeries // the uncommon series: the generated decoder
			if err := ts.Unmarshal(body); err != nil {
				return series{}, rejection{}, false, err
			}
			s, r, ok := fromProto(&ts, types, lim, sb)
			return s, r, ok, nil
		}
		if typ == protowire.BytesType && num == fieldLabels {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return series{}, rejection{}, false, protowire.ParseError(n)
			}
			b = b[n:]
			nLabels++
			if nLabels <= lim.maxLabels {
				ln, lv, err := labelOf(v)
				if err != nil {
					return series{}, rejection{}, false, err
				}
				if ln == model.MetricNameLabel {
					name = lv
				}
				sb.Add(ln, lv)
			}
			continue
		}
		if typ == protowire.BytesType && num == fieldSamples {
			nSamples++
		}
		n = skipValue(typ, b)
		if n < 0 {
			return series{}, rejection{}, false, protowire.ParseError(n)
		}
		b = b[n:]
	}
	if nLabels > lim.maxLabels {
		return series{}, tooManyLabels(nLabels, lim.maxLabels, nSamples, func() string {
			if name == "" {
				return "(no name)"
			}
			return fmt.Sprintf("%q", name)
		}), false, nil
	}
	s := series{labels: sb.Labels()}
	if r, ok := checkLabels(s.labels, nSamples); !ok {
		return series{}, r, false, nil
	}
	if len(types) > 0 {
		if md, ok := types[familyOf(s.labels.Get(model.MetricNameLabel), types)]; ok {
			s.typ, s.help = metadataType(md.Type), md.Help
		}
	}
	s.samples = make([]sample, 0, nSamples)
	for b := body; len(b) > 0; {
		num, typ, n := consumeTag(b)
		b = b[n:] // checked in the first pass
		if typ == protowire.BytesType && num == fieldSamples {
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			smp, err := sampleOf(v)
			if err != nil {
				return series{}, rejection{}, false, err
			}
			s.samples = append(s.samples, smp)
			continue
		}
		b = b[skipValue(typ, b):]
	}
	return s, rejection{}, true, nil
}

// labelOf decodes a Label message; the strings point into v.
func labelOf(v []byte) (name, value string, err error) {
	// As Marshal writes it: name then value, each shorter than 128 bytes.
	if len(v) >= 4 && v[0] == fieldName<<3|byte(protowire.BytesType) && v[1] < 0x80 {
		nl := int(v[1])
		if 4+nl <= len(v) && v[2+nl] == fieldValue<<3|byte(protowire.BytesType) && v[3+nl] < 0x80 && 4+nl+int(v[3+nl]) == len(v) {
			return inPlace(v[2 : 2+nl]), inPlace(v[4+nl:]), nil
		}
	}
	for len(v) > 0 {
		num, typ, n := consumeTag(v)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		v = v[n:]
		if typ == protowire.BytesType && (num == fieldName || num == fieldValue) {
			s, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			v = v[n:]
			if num == fieldName {
				name = inPlace(s)
			} else {
				value = inPlace(s)
			}
			continue
		}
		n = skipValue(typ, v)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		v = v[n:]
	}
	return name, value, nil
}

// sampleOf decodes a Sample message (value: double, timestamp: int64).
func sampleOf(v []byte) (sample, error) {
	var s sample
	// As Marshal writes it: the value, then the timestamp if not 0.
	if len(v) >= 9 && v[0] == fieldName<<3|byte(protowire.Fixed64Type) {
		s.v = math.Float64frombits(binary.LittleEndian.Uint64(v[1:9]))
		if len(v) == 9 {
			return s, nil
		}
		if v[9] == fieldValue<<3|byte(protowire.VarintType) {
			if x, n := protowire.ConsumeVarint(v[10:]); n > 0 && 10+n == len(v) {
				s.t = int64(x) //nolint:gosec // int64 on the wire
				return s, nil
			}
		}
		s = sample{}
	}
	for len(v) > 0 {
		num, typ, n := consumeTag(v)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		v = v[n:]
		switch {
		case num == fieldName && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(v)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.v, v = math.Float64frombits(x), v[n:]
		case num == fieldValue && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.t, v = int64(x), v[n:] //nolint:gosec // int64 on the wire
		default:
			n = skipValue(typ, v)
			if n < 0 {
				return s, errTruncated
			}
			v = v[n:]
		}
	}
	return s, nil
}

// inPlace is b as a string without a copy. The caller must not keep it past b's lifetime:
// labels.ScratchBuilder.Labels copies it.
func inPlace(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// consumeTag reads a field's tag as the generated decoder (gogo/protobuf) does: any positive
// field number, also above protobuf's maximum (protowire.ConsumeTag refuses those), so that both
// decoders accept the same bodies.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, n
	}
	num := int32(v >> 3) //nolint:gosec // as gogo/protobuf reads it
	if num <= 0 {
		return 0, 0, -1 // protowire's generic parse error
	}
	return protowire.Number(num), protowire.Type(v & 7), n
}

// skipValue skips the value of a field whose tag was just read, as gogo/protobuf does: a group
// ends at any end-group marker, whatever its field number (protowire.ConsumeFieldValue requires
// the group's own).
func skipValue(typ protowire.Type, b []byte) int {
	switch typ {
	case protowire.StartGroupType:
		depth, i := 1, 0
		for depth > 0 {
			v, n := protowire.ConsumeVarint(b[i:])
			if n < 0 {
				return n
			}
			i += n
			switch t := protowire.Type(v & 7); t {
			case protowire.StartGroupType:
				depth++
			case protowire.EndGroupType:
				depth--
			default:
				m := skipValue(t, b[i:])
				if m < 0 {
					return m
				}
				i += m
			}
		}
		return i
	case protowire.EndGroupType:
		return -1 // an end-group marker outside a group
	}
	return protowire.ConsumeFieldValue(1, typ, b)
}
