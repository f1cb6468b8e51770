package otlpwire

import (
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Splitter cuts export requests of traces or metrics into one request per owner, for the relay
// that routes each span by its trace ID and each data point by its series to one of several
// gateways: Split reads every item's routing key, asks owner which of n parts it goes to, and
// writes each part as a request of its own, in protobuf encoding, without decoding the request
// into pdata.
//
// The routing key of a span is TraceKey of its trace_id (the last trace_id field, as pdata
// reads it): all spans of a trace go to one part whatever resource, scope or request they came
// in. The routing key of a metric data point is SeriesKey of its resource's attributes, its
// metric's name and its own attributes (each set of attributes hashed independently of the
// order of its key-values): all points of a series go to one part. A metric without data
// points goes whole to the part of SeriesKey of its resource and name.
//
// A part holds, for each resource and scope that has items in it, the resource's and the
// scope's own fields (resource, schema_url, scope, unknown fields) byte for byte and its items
// byte for byte, in their order; a metric split over parts keeps in each its name, description,
// unit, metadata and its data field's aggregation_temporality and is_monotonic. Decoded with
// pdata, the parts hold together what the request held, each item once. As pdata reads them, a
// ResourceX's deprecated scope field 1000 is kept only when the ResourceX has no field 2, and a
// Metric's data field only the last of them; the others are left out (pdata ignores them).
// Unknown fields of the request itself are left out.
//
// A Splitter reuses its buffers from call to call: it is not safe for concurrent use, and the
// parts Split returns are valid until its next call. Split expects a request that Check
// accepted; on other input it returns an error and never panics.
type Splitter struct {
	parts [][]byte // the requests, by owner
	items []int
	res   [][]byte // the current ResourceX's scope messages, by owner
	scope [][]byte // the current ScopeX's items, by owner
	dps   [][]byte // the current Metric's data points, by owner
	hdr   []byte   // scratch: the fields of a message other than its children
	hdr2  []byte
	hdr3  []byte
	n     int
	owner func(key uint64) int
}

// TraceKey is the routing key of a span of trace ID id.
func TraceKey(id []byte) uint64 { return mix(xxhash.Sum64(id)) }

// SeriesKey is the routing key of a metric data point: resource and point are the
// order-independent hashes of the attributes of its resource and of the point (AttrsHash), name
// its metric's name.
func SeriesKey(resource uint64, name []byte, point uint64) uint64 {
	return mix(resource ^ mix(xxhash.Sum64(name)^mix(point)))
}

// mix is splitmix64's finalizer: every bit of x moves every bit of the result.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Mix returns a well-mixed 64-bit hash of x (splitmix64's finalizer); the relay ranks gateways
// for a key by Mix(key ^ seed of the gateway).
func Mix(x uint64) uint64 { return mix(x) }

var errTruncated = errors.New("cannot split otlp request: truncated or malformed protobuf")

// Split cuts req, an Export<s>ServiceRequest of traces or metrics, into n parts: the item of
// routing key k goes to part owner(k), which must be in [0, n). It returns the parts (an empty
// part has length 0) and their item counts (spans, data points).
func (sp *Splitter) Split(s Signal, req []byte, n int, owner func(key uint64) int) (parts [][]byte, items []int, err error) {
	if n <= 0 {
		return nil, nil, fmt.Errorf("cannot split otlp request into %d parts", n)
	}
	sp.n, sp.owner = n, owner
	sp.parts = grow(sp.parts, n)
	sp.res = grow(sp.res, n)
	sp.scope = grow(sp.scope, n)
	sp.dps = grow(sp.dps, n)
	if cap(sp.items) < n {
		sp.items = make([]int, n)
	}
	sp.items = sp.items[:n]
	clear(sp.items)
	switch s {
	case Traces, Metrics:
	default:
		return nil, nil, fmt.Errorf("cannot split otlp %s requests: only traces and metrics are split", s)
	}
	err = eachField(req, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil // unknown fields of the request: pdata ignores them
		}
		return sp.resourceX(v, s)
	})
	if err != nil {
		return nil, nil, err
	}
	return sp.parts, sp.items, nil
}

func grow(b [][]byte, n int) [][]byte {
	for len(b) < n {
		b = append(b, nil)
	}
	b = b[:n]
	for i := range b {
		b[i] = b[i][:0]
	}
	return b
}

// resourceX splits one ResourceSpans or ResourceMetrics (field 1 of the request).
func (sp *Splitter) resourceX(b []byte, s Signal) error {
	hasScopes := false
	var resHash uint64
	hdr := sp.hdr[:0]
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		switch {
		case (num == 2 || num == 1000) && typ == protowire.BytesType:
			hasScopes = hasScopes || num == 2
		default:
			if num == 1 && typ == protowire.BytesType && s == Metrics {
				resHash += attrsHash(v, 1)
			}
			hdr = append(hdr, raw...)
		}
		return nil
	})
	sp.hdr = hdr
	if err != nil {
		return err
	}
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		if typ != protowire.BytesType || !(num == 2 || (num == 1000 && !hasScopes)) {
			return nil
		}
		return sp.scopeX(v, num, s, resHash)
	})
	if err != nil {
		return err
	}
	for i, r := range sp.res {
		if len(r) == 0 {
			continue
		}
		sp.parts[i] = appendMessage(sp.parts[i], 1, sp.hdr, r)
		sp.res[i] = r[:0]
	}
	return nil
}

// scopeX splits one ScopeSpans or ScopeMetrics (field num of its ResourceX).
func (sp *Splitter) scopeX(b []byte, num protowire.Number, s Signal, resHash uint64) error {
	hdr := sp.hdr2[:0]
	for len(b) > 0 {
		n, typ, v, m := nextField(b)
		if m < 0 {
			return errTruncated
		}
		raw := b[:m]
		b = b[m:]
		switch {
		case n != 2 || typ != protowire.BytesType:
			hdr = append(hdr, raw...)
		case s == Metrics:
			sp.hdr2 = hdr
			if err := sp.metric(v, resHash); err != nil {
				return err
			}
		default:
			if err := sp.span(v, raw); err != nil {
				return err
			}
		}
	}
	sp.hdr2 = hdr
	for i, sc := range sp.scope {
		if len(sc) == 0 {
			continue
		}
		sp.res[i] = appendMessage(sp.res[i], num, sp.hdr2, sc)
		sp.scope[i] = sc[:0]
	}
	return nil
}

// span puts one Span (v, its field raw: tag, length and content) in the part of its trace ID.
func (sp *Splitter) span(v, raw []byte) error {
	var id []byte
	for len(v) > 0 {
		// The fields of most spans, read inline: a one-byte tag (field numbers 1 to 15) of a
		// length-delimited field of length below 2^14, a fixed64 or a one-byte varint. The
		// others, and anything malformed, go to nextField.
		if t := v[0]; t < 0x80 && t >= 8 && len(v) >= 3 {
			switch t & 7 {
			case 2:
				l, h := int(v[1]), 2
				if l >= 0x80 {
					if v[2] >= 0x80 {
						break
					}
					l, h = l&0x7f|int(v[2])<<7, 3
				}
				if h+l > len(v) {
					break
				}
				if t>>3 == 1 {
					id = v[h : h+l] // the last, as pdata reads it
				}
				v = v[h+l:]
				continue
			case 1:
				if len(v) >= 9 {
					v = v[9:]
					continue
				}
			case 0:
				if v[1] < 0x80 {
					v = v[2:]
					continue
				}
			}
		}
		num, typ, val, n := nextField(v)
		if n < 0 {
			return errTruncated
		}
		if num == 1 && typ == protowire.BytesType {
			id = val // the last, as pdata reads it
		}
		v = v[n:]
	}
	o := sp.pick(TraceKey(id))
	sp.scope[o] = append(sp.scope[o], raw...)
	sp.items[o]++
	return nil
}

func (sp *Splitter) pick(key uint64) int {
	o := sp.owner(key)
	if o < 0 || o >= sp.n {
		o = 0
	}
	return o
}

// dataFields are the Metric fields holding its data, and the field number of the attributes of
// their points.
var dataFields = map[protowire.Number]protowire.Number{5: 7, 7: 7, 9: 9, 10: 1, 11: 7}

// metric splits one Metric (field 2 of a ScopeMetrics) by the series of its data points.
func (sp *Splitter) metric(b []byte, resHash uint64) error {
	var (
		name    []byte
		last    protowire.Number // the last data field, which pdata keeps
		data    []byte
		hdr     = sp.hdr3[:0]
		hasData bool
	)
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		if _, ok := dataFields[num]; ok && typ == protowire.BytesType {
			last, data, hasData = num, v, true
			return nil
		}
		if num == 1 && typ == protowire.BytesType {
			name = v
		}
		hdr = append(hdr, raw...)
		return nil
	})
	sp.hdr3 = hdr
	if err != nil {
		return err
	}
	if !hasData {
		o := sp.pick(SeriesKey(resHash, name, 0))
		sp.scope[o] = protowire.AppendTag(sp.scope[o], 2, protowire.BytesType)
		sp.scope[o] = protowire.AppendBytes(sp.scope[o], b)
		return nil
	}
	attrNum := dataFields[last]
	// The data field's own fields other than its points (aggregation_temporality, is_monotonic),
	// after the metric's: the Metric's header is hdr3[:len(hdr)], the data's after it.
	dataHdrStart := len(sp.hdr3)
	points := 0
	err = eachField(data, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		if num == 1 && typ == protowire.BytesType {
			o := sp.pick(SeriesKey(resHash, name, attrsHash(v, attrNum)))
			sp.dps[o] = append(sp.dps[o], raw...)
			sp.items[o]++
			points++
			return nil
		}
		sp.hdr3 = append(sp.hdr3, raw...)
		return nil
	})
	if err != nil {
		return err
	}
	metricHdr, dataHdr := sp.hdr3[:dataHdrStart], sp.hdr3[dataHdrStart:]
	if points == 0 {
		o := sp.pick(SeriesKey(resHash, name, 0))
		sp.scope[o] = appendMetric(sp.scope[o], metricHdr, last, dataHdr, nil)
		return nil
	}
	for i, d := range sp.dps {
		if len(d) == 0 {
			continue
		}
		sp.scope[i] = appendMetric(sp.scope[i], metricHdr, last, dataHdr, d)
		sp.dps[i] = d[:0]
	}
	return nil
}

// appendMetric appends a Metric (field 2 of a ScopeMetrics) made of hdr and the data field num
// holding dataHdr and the points.
func appendMetric(dst, hdr []byte, num protowire.Number, dataHdr, points []byte) []byte {
	dataLen := len(dataHdr) + len(points)
	metricLen := len(hdr) + protowire.SizeTag(num) + protowire.SizeBytes(dataLen)
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(metricLen))
	dst = append(dst, hdr...)
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(dataLen))
	dst = append(dst, dataHdr...)
	return append(dst, points...)
}

// appendMessage appends field num holding hdr followed by children.
func appendMessage(dst []byte, num protowire.Number, hdr, children []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(len(hdr)+len(children)))
	dst = append(dst, hdr...)
	return append(dst, children...)
}

// AttrsHash is the hash of the KeyValue fields num of msg (a Resource: 1; a NumberDataPoint: 7),
// independent of their order: the sum of the hashes of their encodings.
func AttrsHash(msg []byte, num protowire.Number) uint64 { return attrsHash(msg, num) }

func attrsHash(msg []byte, num protowire.Number) uint64 {
	var h uint64
	_ = eachField(msg, func(n protowire.Number, typ protowire.Type, v, _ []byte) error {
		if n == num && typ == protowire.BytesType {
			h += mix(xxhash.Sum64(v))
		}
		return nil
	})
	return h
}

// eachField calls fn with each field of msg: its number, wire type, value (the content of a
// length-delimited field, else nil) and raw encoding (tag included). It stops at fn's first
// error, and returns errTruncated on malformed input.
func eachField(msg []byte, fn func(num protowire.Number, typ protowire.Type, v, raw []byte) error) error {
	for len(msg) > 0 {
		num, typ, v, n := nextField(msg)
		if n < 0 {
			return errTruncated
		}
		if err := fn(num, typ, v, msg[:n]); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// nextField reads the first field of msg: its number, wire type, value (the content of a
// length-delimited field, else nil) and length with its tag; n < 0 on malformed input.
func nextField(msg []byte) (num protowire.Number, typ protowire.Type, v []byte, n int) {
	num, typ, n = protowire.ConsumeTag(msg)
	if n < 0 {
		return 0, 0, nil, -1
	}
	if typ == protowire.BytesType {
		var m int
		v, m = protowire.ConsumeBytes(msg[n:])
		if m < 0 {
			return 0, 0, nil, -1
		}
		return num, typ, v, n + m
	}
	end, err := skipUnknown(msg, n, typ) // as Check and pdata skip them, groups included
	if err != nil {
		return 0, 0, nil, -1
	}
	return num, typ, nil, end
}
