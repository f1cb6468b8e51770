package lokipushexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"

	"github.com/vigil-obs/vigil/internal/snappyblock"
)

// lokiRequest is what the sending queue holds: the push requests of a batch of logs, one per
// tenant, translated, encoded and snappy-compressed once when the logs arrive (toRequest). The
// persistent queue stores it with lokiEncoding — the compressed bodies, their tenants and entry
// counts — and the queue's consumers send the bodies as they are: nothing is decoded back into
// pdata after the queue. A request is not changed once made.
type lokiRequest struct {
	enc     []byte // the request in lokiEncoding
	parts   []part // slices of enc
	entries int    // entries in all parts: the queue's items
	size    int    // the push requests' bytes before compression: the queue's bytes
}

// part is the push request of one tenant.
type part struct {
	tenant  string
	body    []byte // snappy block of a push.PushRequest: what is sent
	entries int
	size    int // len of the body decompressed
}

func (r *lokiRequest) ItemsCount() int { return r.entries }
func (r *lokiRequest) BytesSize() int  { return r.size }

// lokiEncoding stores a lokiRequest in the persistent queue (one value):
//
//	version byte (1), uvarint parts, then per part:
//	uvarint tenant length, tenant, uvarint entries, uvarint body length, body (snappy block)
//
// Logs queued by an earlier vigil, as the collector's protobuf logs, are read too and translated
// then (a protobuf message cannot start with byte 1: field number 0 does not exist).
type lokiEncoding struct{ e *lokiExporter }

const lokiEncodingVersion = 1

var errLokiEncoding = errors.New("damaged Loki queue item")

// Marshal returns the request's encoding, the bytes it was built in. They must not be changed.
func (lokiEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*lokiRequest)
	if !ok {
		return nil, fmt.Errorf("cannot store a %T in the Loki queue", req)
	}
	return r.enc[:len(r.enc):len(r.enc)], nil // an append by the storage copies
}

// Unmarshal checks b and makes it the request's encoding (b is kept, not copied); logs queued
// by an earlier vigil are translated.
func (d lokiEncoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	if len(b) == 0 {
		return ctx, nil, fmt.Errorf("%w: empty", errLokiEncoding)
	}
	if b[0] != lokiEncodingVersion {
		ctx, ld, err := pdatareq.UnmarshalLogs(b)
		if errors.Is(err, pdatareq.ErrInvalidFormat) {
			ctx = context.Background()
			ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		}
		if err != nil {
			return ctx, nil, fmt.Errorf("%w: neither Loki push requests nor logs: %w", errLokiEncoding, err)
		}
		r, err := d.e.toRequest(ctx, ld)
		return ctx, r, err
	}
	r, err := decodeRequest(b)
	return ctx, r, err
}

// decodeRequest reads b, in lokiEncoding, checking every length against what is left of b.
func decodeRequest(b []byte) (*lokiRequest, error) {
	rest := b[1:]
	uvarint := func(what string) (uint64, error) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, fmt.Errorf("%w: bad %s", errLokiEncoding, what)
		}
		rest = rest[n:]
		return v, nil
	}
	n, err := uvarint("part count")
	if err != nil {
		return nil, err
	}
	if n > uint64(len(rest))/3 { // a part takes 3 bytes at least
		return nil, fmt.Errorf("%w: %d parts in %d bytes", errLokiEncoding, n, len(rest))
	}
	r := &lokiRequest{enc: b, parts: make([]part, 0, n)}
	for range n {
		tl, err := uvarint("tenant length")
		if err != nil {
			return nil, err
		}
		if tl > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: tenant of %d bytes in %d", errLokiEncoding, tl, len(rest))
		}
		p := part{tenant: string(rest[:tl])}
		rest = rest[tl:]
		entries, err := uvarint("entry count")
		if err != nil {
			return nil, err
		}
		bl, err := uvarint("body length")
		if err != nil {
			return nil, err
		}
		if bl > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: body of %d bytes in %d", errLokiEncoding, bl, len(rest))
		}
		p.body, rest = rest[:bl:bl], rest[bl:]
		if p.size, err = snappyblock.DecodedLen(p.body); err != nil {
			return nil, fmt.Errorf("%w: %w", errLokiEncoding, err)
		}
		if entries > uint64(p.size) { // an entry takes 2 bytes of the request at least
			return nil, fmt.Errorf("%w: %d entries in %d bytes", errLokiEncoding, entries, p.size)
		}
		p.entries = int(entries)
		r.parts = append(r.parts, p)
		r.entries += p.entries
		r.size += p.size
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last part", errLokiEncoding, len(rest))
	}
	return r, nil
}

// toRequest is the exporter's request converter: the logs translated (Convert), encoded and
// compressed, one push request per tenant, when they arrive. A tenant's request that cannot be
// encoded is dead-lettered at once.
func (e *lokiExporter) toRequest(_ context.Context, ld plog.Logs) (xexporterhelper.Request, error) {
	batches := Convert(ld, e.cfg.tenant, time.Now())
	parts := make([]rawPart, 0, len(batches))
	raw := rawBuffers.Get()
	defer rawBuffers.Put(raw)
	for _, b := range batches {
		start := len(*raw)
		var err error
		if *raw, err = appendPush(*raw, &b.Request); err != nil {
			*raw = (*raw)[:start]
			e.deadLetter(b, 0, reasonUnencoding, err.Error())
			continue
		}
		parts = append(parts, rawPart{tenant: b.Tenant, entries: b.Entries, raw: (*raw)[start:]})
	}
	return newRequest(parts), nil
}

// rawPart is a tenant's push request before compression.
type rawPart struct {
	tenant  string
	entries int
	raw     []byte
}

// appendPush appends r, protobuf-encoded, to dst.
func appendPush(dst []byte, r *push.PushRequest) ([]byte, error) {
	size := r.Size()
	out := dst
	if cap(out)-len(out) < size {
		out = make([]byte, len(dst), 2*cap(dst)+size)
		copy(out, dst)
	}
	b := out[len(out) : len(out)+size]
	n, err := r.MarshalToSizedBuffer(b)
	if err != nil {
		return dst, err
	}
	if n != size {
		return dst, fmt.Errorf("push request of %d bytes encoded in %d", size, n)
	}
	return out[:len(out)+size], nil
}

var rawBuffers, snappyBuffers snappyblock.Buffers

// newRequest compresses the parts (in buffers reused from request to request) into a request's
// own encoding.
func newRequest(parts []rawPart) *lokiRequest {
	sb := snappyBuffers.Get()
	defer snappyBuffers.Put(sb)
	bodies := make([][2]int, len(parts)) // offsets in *sb
	for i, p := range parts {
		start := len(*sb)
		*sb = snappyblock.Append(*sb, p.raw)
		bodies[i] = [2]int{start, len(*sb)}
	}
	n := 1 + binary.MaxVarintLen64 + len(*sb)
	for _, p := range parts {
		n += len(p.tenant) + 3*binary.MaxVarintLen64
	}
	r := &lokiRequest{enc: make([]byte, 0, n), parts: make([]part, len(parts))}
	r.enc = binary.AppendUvarint(append(r.enc, lokiEncodingVersion), uint64(len(parts)))
	for i, p := range parts {
		body := (*sb)[bodies[i][0]:bodies[i][1]]
		r.enc = binary.AppendUvarint(r.enc, uint64(len(p.tenant)))
		r.enc = append(r.enc, p.tenant...)
		r.enc = binary.AppendUvarint(r.enc, uint64(p.entries))
		r.enc = binary.AppendUvarint(r.enc, uint64(len(body)))
		h := len(r.enc)
		r.enc = append(r.enc, body...)
		r.parts[i] = part{tenant: p.tenant, body: r.enc[h:len(r.enc):len(r.enc)], entries: p.entries, size: len(p.raw)}
		r.entries += p.entries
		r.size += len(p.raw)
	}
	return r
}

// tenantsError is a push that failed for some of the request's tenants only: OnError keeps them.
type tenantsError struct {
	err    error
	failed map[string]bool
}

func (t *tenantsError) Error() string { return t.err.Error() }
func (t *tenantsError) Unwrap() error { return t.err }

// OnError returns the request of the tenants whose push failed, when the error names them.
func (r *lokiRequest) OnError(err error) xexporterhelper.Request {
	var te *tenantsError
	if !errors.As(err, &te) {
		return r
	}
	var parts []rawPart
	for _, p := range r.parts {
		if te.failed[p.tenant] {
			raw, derr := p.raw(nil)
			if derr != nil {
				return r
			}
			parts = append(parts, rawPart{tenant: p.tenant, entries: p.entries, raw: raw})
		}
	}
	return newRequest(parts)
}

// pushRequest is the queue consumers' push: send each tenant's body. Loki's 2xx and 4xx answers
// (the latter dead-lettered) settle a tenant's streams; a 429, a 5xx or no answer leaves them,
// alone, to the retry sender and the queue.
func (e *lokiExporter) pushRequest(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*lokiRequest)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("cannot send a %T: not a Loki request", req))
	}
	var retry []error
	failed := map[string]bool{}
	for i := range r.parts {
		if err := e.send(ctx, &r.parts[i]); err != nil {
			retry = append(retry, err)
			failed[r.parts[i].tenant] = true
		}
	}
	if len(retry) == 0 {
		return nil
	}
	err := errors.Join(retry...)
	if consumererror.IsPermanent(err) || len(failed) == len(r.parts) {
		return err
	}
	return &tenantsError{err: err, failed: failed}
}

// raw appends the part's push request, uncompressed, to dst.
func (p *part) raw(dst []byte) ([]byte, error) {
	if len(p.body) == 0 {
		return dst, nil
	}
	out := make([]byte, len(dst)+p.size)
	copy(out, dst)
	b, err := s2.Decode(out[len(dst):], p.body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLokiEncoding, err)
	}
	if len(b) != p.size {
		return nil, fmt.Errorf("%w: %d bytes decompressed, %d expected", errLokiEncoding, len(b), p.size)
	}
	return out, nil
}

// batch decodes the part into the tenant's push request (for the dead-letter file).
func (p *part) batch() (Batch, error) {
	b := Batch{Tenant: p.tenant, Entries: p.entries}
	raw, err := p.raw(nil)
	if err != nil {
		return b, err
	}
	if err := b.Request.Unmarshal(raw); err != nil {
		return b, fmt.Errorf("%w: %w", errLokiEncoding, err)
	}
	return b, nil
}

// MergeSplit appends r2's push requests to r's, tenant by tenant (a push request is a list of
// streams: the bodies concatenated are the request of both), and cuts the result into requests
// of at most maxSize entries or bytes, a stream with more entries than fit going into several;
// used only when sending_queue.batch is configured.
func (r *lokiRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	var parts []rawPart
	index := map[string]int{}
	add := func(req *lokiRequest) error {
		for _, p := range req.parts {
			i, ok := index[p.tenant]
			if !ok {
				i = len(parts)
				index[p.tenant] = i
				parts = append(parts, rawPart{tenant: p.tenant})
			}
			raw, err := p.raw(parts[i].raw)
			if err != nil {
				return err
			}
			parts[i].raw, parts[i].entries = raw, parts[i].entries+p.entries
		}
		return nil
	}
	if err := add(r); err != nil {
		return nil, err
	}
	entries, size := r.entries, r.size
	if r2 != nil {
		o, ok := r2.(*lokiRequest)
		if !ok {
			return nil, fmt.Errorf("cannot merge a %T into a Loki request", r2)
		}
		if err := add(o); err != nil {
			return nil, err
		}
		entries, size = entries+o.entries, size+o.size
	}
	switch {
	case maxSize <= 0 || szt == exporterhelper.RequestSizerTypeRequests,
		szt == exporterhelper.RequestSizerTypeItems && entries <= maxSize,
		szt == exporterhelper.RequestSizerTypeBytes && size <= maxSize:
		return []xexporterhelper.Request{newRequest(parts)}, nil
	}
	return split(parts, maxSize, szt)
}

// unit is a stream, or a piece of one, of a tenant: what split packs.
type unit struct {
	tenant string
	stream push.Stream
}

// split decodes the parts' streams and packs them, in order, into requests of at most maxSize
// entries or bytes; a stream that alone measures more is cut into streams of the same labels.
func split(parts []rawPart, maxSize int, szt exporterhelper.RequestSizerType) ([]xexporterhelper.Request, error) {
	measure := func(s *push.Stream) int { return len(s.Entries) }
	if szt == exporterhelper.RequestSizerTypeBytes {
		measure = func(s *push.Stream) int { n := s.Size(); return 1 + varintLen(n) + n }
	}
	var units []unit
	for _, p := range parts {
		var pr push.PushRequest
		if err := pr.Unmarshal(p.raw); err != nil {
			return nil, fmt.Errorf("%w: %w", errLokiEncoding, err)
		}
		found := 0
		for _, s := range pr.Streams {
			found += len(s.Entries)
			if measure(&s) <= maxSize || len(s.Entries) <= 1 {
				units = append(units, unit{p.tenant, s})
				continue
			}
			piece := push.Stream{Labels: s.Labels, Hash: s.Hash}
			for _, en := range s.Entries {
				next := piece
				next.Entries = append(piece.Entries, en)
				if len(piece.Entries) > 0 && measure(&next) > maxSize {
					units = append(units, unit{p.tenant, piece})
					next = push.Stream{Labels: s.Labels, Hash: s.Hash, Entries: []push.Entry{en}}
				}
				piece = next
			}
			units = append(units, unit{p.tenant, piece})
		}
		if found != p.entries {
			return nil, fmt.Errorf("%w: %d entries, %d counted", errLokiEncoding, found, p.entries)
		}
	}
	var out []xexporterhelper.Request
	var cur []unit
	n := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		req, err := requestOf(cur)
		if err != nil {
			return err
		}
		out, cur, n = append(out, req), nil, 0
		return nil
	}
	for _, u := range units {
		m := measure(&u.stream)
		if n+m > maxSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur, n = append(cur, u), n+m
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return []xexporterhelper.Request{newRequest(nil)}, nil
	}
	return out, nil
}

// requestOf encodes units into a request, one push request per tenant.
func requestOf(units []unit) (*lokiRequest, error) {
	var tenants []string
	by := map[string]*Batch{}
	for _, u := range units {
		b := by[u.tenant]
		if b == nil {
			b = &Batch{Tenant: u.tenant}
			by[u.tenant] = b
			tenants = append(tenants, u.tenant)
		}
		b.Request.Streams = append(b.Request.Streams, u.stream)
		b.Entries += len(u.stream.Entries)
	}
	parts := make([]rawPart, 0, len(tenants))
	for _, t := range tenants {
		raw, err := appendPush(nil, &by[t].Request)
		if err != nil {
			return nil, err
		}
		parts = append(parts, rawPart{tenant: t, entries: by[t].Entries, raw: raw})
	}
	return newRequest(parts), nil
}

func varintLen(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }
