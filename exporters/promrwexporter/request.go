package promrwexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"

	"github.com/vigil-obs/vigil/internal/snappyblock"
)

// rwRequest is what the sending queue holds: the remote-write request itself, translated and
// compressed once when the metrics arrive (toRequest). The persistent queue stores it with
// rwEncoding — the snappy body and little else — instead of the metrics as protobuf, and the
// queue's consumers send it as it is: no protobuf decoded back into pdata, no translation after
// the queue. A request is not changed once made.
type rwRequest struct {
	enc     []byte // the request in rwEncoding
	body    []byte // enc's snappy block: the prompb.WriteRequest to send
	samples int    // samples and native histograms in it: the queue's items
	size    int    // the WriteRequest's bytes before compression: the queue's bytes
}

func (r *rwRequest) ItemsCount() int { return r.samples }
func (r *rwRequest) BytesSize() int  { return r.size }

// rwEncoding stores an rwRequest in the persistent queue (one value):
//
//	version byte (1), uvarint samples, then the snappy block (the body sent)
//
// Metrics queued by an earlier vigil, as the collector's protobuf metrics, are read too and
// translated then (a protobuf message cannot start with byte 1: field number 0 does not exist).
// The request is translated before it is queued: the external labels and the label table it was
// queued with are those it is sent with, even if the configuration changes in between.
type rwEncoding struct{ e *promrwExporter }

const rwEncodingVersion = 1

var errRWEncoding = errors.New("damaged remote-write queue item")

// Marshal returns the request's encoding, the bytes it was built in. They must not be changed.
func (rwEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*rwRequest)
	if !ok {
		return nil, fmt.Errorf("cannot store a %T in the remote-write queue", req)
	}
	return r.enc[:len(r.enc):len(r.enc)], nil // an append by the storage copies
}

// Unmarshal checks b and makes it the request's encoding (b is kept, not copied); metrics queued
// by an earlier vigil are translated.
func (d rwEncoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	if len(b) > 0 && b[0] != rwEncodingVersion {
		ctx, md, err := pdatareq.UnmarshalMetrics(b)
		if errors.Is(err, pdatareq.ErrInvalidFormat) {
			ctx = context.Background()
			md, err = (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
		}
		if err != nil {
			return ctx, nil, fmt.Errorf("%w: neither a remote-write request nor metrics: %w", errRWEncoding, err)
		}
		r, err := d.e.toRequest(ctx, md)
		return ctx, r, err
	}
	if len(b) == 0 {
		return ctx, nil, fmt.Errorf("%w: empty", errRWEncoding)
	}
	samples, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return ctx, nil, fmt.Errorf("%w: bad sample count", errRWEncoding)
	}
	body := b[1+n:]
	size, err := snappyblock.DecodedLen(body)
	if err != nil {
		return ctx, nil, fmt.Errorf("%w: %w", errRWEncoding, err)
	}
	if samples > uint64(size) { // a sample takes 2 bytes of the request at least
		return ctx, nil, fmt.Errorf("%w: %d samples in %d bytes", errRWEncoding, samples, size)
	}
	return ctx, &rwRequest{enc: b, body: body, samples: int(samples), size: size}, nil
}

// toRequest is the exporter's request converter: the metrics translated (translate), encoded
// and compressed when they arrive.
func (e *promrwExporter) toRequest(ctx context.Context, md pmetric.Metrics) (xexporterhelper.Request, error) {
	c, err := e.translate(ctx, md)
	if err != nil {
		return nil, err
	}
	return c.request()
}

// pushRequest is the queue consumers' push: send the request's body.
func (e *promrwExporter) pushRequest(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*rwRequest)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("cannot send a %T: not a remote-write request", req))
	}
	if len(r.body) == 0 {
		return nil
	}
	return e.send(ctx, r.body)
}

var rawBuffers, snappyBuffers snappyblock.Buffers

// request encodes the series as a remote-write request: encoded and compressed in buffers
// reused from request to request, then copied into the request's own bytes.
func (c *collector) request() (*rwRequest, error) {
	raw := rawBuffers.Get()
	defer rawBuffers.Put(raw)
	var err error
	if *raw, err = c.appendTo((*raw)[:0]); err != nil {
		return nil, consumererror.NewPermanent(fmt.Errorf("cannot encode remote-write request: %w", err))
	}
	samples := 0
	for i := range c.series {
		samples += len(c.series[i].samples) + len(c.series[i].histograms)
	}
	return newRequest(*raw, samples), nil
}

// newRequest compresses raw, a prompb.WriteRequest of so many samples, into a request.
func newRequest(raw []byte, samples int) *rwRequest {
	sb := snappyBuffers.Get()
	defer snappyBuffers.Put(sb)
	*sb = snappyblock.Append(*sb, raw)
	body := *sb
	enc := make([]byte, 0, 1+binary.MaxVarintLen64+len(body))
	enc = binary.AppendUvarint(append(enc, rwEncodingVersion), uint64(samples))
	h := len(enc)
	enc = append(enc, body...)
	return &rwRequest{enc: enc, body: enc[h:], samples: samples, size: len(raw)}
}

// MergeSplit appends r2's series to r's (a remote-write request is a list of series: the bodies
// concatenated are the request of both) and cuts the result into requests of at most maxSize
// samples or bytes, a series with more samples than fit going into several; used only when
// sending_queue.batch is configured.
func (r *rwRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	raw, err := r.raw(nil)
	if err != nil {
		return nil, err
	}
	samples, size := r.samples, r.size
	if r2 != nil {
		o, ok := r2.(*rwRequest)
		if !ok {
			return nil, fmt.Errorf("cannot merge a %T into a remote-write request", r2)
		}
		if raw, err = o.raw(raw); err != nil {
			return nil, err
		}
		samples, size = samples+o.samples, size+o.size
	}
	switch {
	case maxSize <= 0 || szt == exporterhelper.RequestSizerTypeRequests,
		szt == exporterhelper.RequestSizerTypeItems && samples <= maxSize,
		szt == exporterhelper.RequestSizerTypeBytes && size <= maxSize:
		return []xexporterhelper.Request{newRequest(raw, samples)}, nil
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", errRWEncoding, err)
	}
	found := 0
	for i := range wr.Timeseries {
		found += len(wr.Timeseries[i].Samples) + len(wr.Timeseries[i].Histograms)
	}
	if found != samples {
		return nil, fmt.Errorf("%w: %d samples, %d counted", errRWEncoding, found, samples)
	}
	measure := func(ts *prompb.TimeSeries) int { return len(ts.Samples) + len(ts.Histograms) }
	if szt == exporterhelper.RequestSizerTypeBytes {
		measure = func(ts *prompb.TimeSeries) int { n := ts.Size(); return 1 + varintLen(n) + n }
	}
	var out []xexporterhelper.Request
	for _, group := range splitSeries(wr.Timeseries, maxSize, measure) {
		part := prompb.WriteRequest{Timeseries: group}
		b, err := part.Marshal()
		if err != nil {
			return nil, err
		}
		n := 0
		for i := range group {
			n += len(group[i].Samples) + len(group[i].Histograms)
		}
		out = append(out, newRequest(b, n))
	}
	if len(out) == 0 { // no series: nothing to cut
		return []xexporterhelper.Request{newRequest(raw, samples)}, nil
	}
	return out, nil
}

// raw appends the request's WriteRequest, uncompressed, to dst.
func (r *rwRequest) raw(dst []byte) ([]byte, error) {
	if len(r.body) == 0 {
		return dst, nil
	}
	out := make([]byte, len(dst)+r.size)
	copy(out, dst)
	b, err := s2.Decode(out[len(dst):], r.body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRWEncoding, err)
	}
	if len(b) != r.size {
		return nil, fmt.Errorf("%w: %d bytes decompressed, %d expected", errRWEncoding, len(b), r.size)
	}
	return out, nil
}

// splitSeries cuts series, in order, into groups whose measures add up to at most maxSize; a
// series that alone measures more is cut into series of the same labels with part of its samples
// and histograms each (its exemplars with the first), each at most maxSize if a single sample
// allows it.
func splitSeries(series []prompb.TimeSeries, maxSize int, measure func(*prompb.TimeSeries) int) [][]prompb.TimeSeries {
	var groups [][]prompb.TimeSeries
	var cur []prompb.TimeSeries
	n := 0
	add := func(ts prompb.TimeSeries) {
		m := measure(&ts)
		if n+m > maxSize && len(cur) > 0 {
			groups, cur, n = append(groups, cur), nil, 0
		}
		cur, n = append(cur, ts), n+m
	}
	for _, ts := range series {
		if measure(&ts) <= maxSize {
			add(ts)
			continue
		}
		piece := prompb.TimeSeries{Labels: ts.Labels, Exemplars: ts.Exemplars}
		// fits: piece would measure at most maxSize with with added (a piece holds one at least).
		fits := func(with prompb.TimeSeries) bool {
			return len(piece.Samples)+len(piece.Histograms) == 0 || measure(&with) <= maxSize
		}
		for _, s := range ts.Samples {
			next := piece
			next.Samples = append(piece.Samples, s) // past piece's length only: piece is added as it was
			if !fits(next) {
				add(piece)
				next = prompb.TimeSeries{Labels: ts.Labels, Samples: []prompb.Sample{s}}
			}
			piece = next
		}
		for _, h := range ts.Histograms {
			next := piece
			next.Histograms = append(piece.Histograms, h)
			if !fits(next) {
				add(piece)
				next = prompb.TimeSeries{Labels: ts.Labels, Histograms: []prompb.Histogram{h}}
			}
			piece = next
		}
		add(piece)
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

func varintLen(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }
