package opensearchexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// docsRequest is what the sending queue holds: the documents, built once when the logs arrive.
// The persistent queue stores them with docsEncoding — the bulk documents' bytes and little
// else — instead of the log records as protobuf (larger, with every attribute beside the event
// JSON), and sends them without decoding protobuf back into log records.
//
// A request built from logs (toDocs) or read from the queue (Unmarshal) is its encoding, enc:
// Marshal returns it as it is, and its items are read from it when it is sent. A request made by
// MergeSplit holds items instead (spans of the requests it was made of). A request is not
// changed once made.
type docsRequest struct {
	enc   []byte // in docsEncoding; nil when items holds the documents
	items []item
	count int
	bytes int
}

func newDocsRequest(items []item) *docsRequest {
	r := &docsRequest{items: items, count: len(items)}
	for _, it := range items {
		r.bytes += itemBytes(it)
	}
	return r
}

// itemOverhead is what itemBytes adds for the action line's JSON and the newlines.
const itemOverhead = 40

// itemBytes is an item's share of a bulk body: its action line and its document.
func itemBytes(it item) int { return len(it.doc) + len(it.index) + len(it.id) + itemOverhead }

func (r *docsRequest) ItemsCount() int { return r.count }
func (r *docsRequest) BytesSize() int  { return r.bytes }

// list returns the documents of r. Those of an encoded request are read from enc each time: the
// documents are spans of it, the index name and _id strings.
func (r *docsRequest) list() ([]item, error) {
	if r.enc == nil {
		return r.items, nil
	}
	items := make([]item, 0, r.count)
	var ids strings.Builder // one string for the request's _ids
	ids.Grow(r.count * 64)
	idEnds := make([]int, 0, r.count)
	index := ""
	_, _, err := walkDocs(r.enc, func(ix, id []byte, received int64, doc []byte) {
		if string(ix) != index {
			index = string(ix)
		}
		ids.Write(id)
		idEnds = append(idEnds, ids.Len())
		items = append(items, item{index: index, doc: doc, received: pcommon.Timestamp(received)})
	})
	if err != nil {
		return nil, err
	}
	all, start := ids.String(), 0
	for i, end := range idEnds {
		items[i].id = all[start:end]
		start = end
	}
	return items, nil
}

// MergeSplit appends r2's documents to r's and cuts the result into requests of at most maxSize
// (documents or bytes); used only when sending_queue.batch is configured.
func (r *docsRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	all, err := r.list()
	if err != nil {
		return nil, err
	}
	if r2 != nil {
		o, ok := r2.(*docsRequest)
		if !ok {
			return nil, fmt.Errorf("cannot merge a %T into an OpenSearch request", r2)
		}
		more, err := o.list()
		if err != nil {
			return nil, err
		}
		all = append(append(make([]item, 0, len(all)+len(more)), all...), more...)
	}
	size := func(it item) int {
		if szt == exporterhelper.RequestSizerTypeBytes {
			return itemBytes(it)
		}
		return 1
	}
	if maxSize <= 0 || szt == exporterhelper.RequestSizerTypeRequests {
		return []xexporterhelper.Request{newDocsRequest(all)}, nil
	}
	var out []xexporterhelper.Request
	start, n := 0, 0
	for i, it := range all {
		if s := size(it); n+s > maxSize && i > start {
			out = append(out, newDocsRequest(all[start:i:i]))
			start, n = i, 0
		}
		n += size(all[i])
	}
	return append(out, newDocsRequest(all[start:])), nil
}

// toDocs is the exporter's request converter: log records to documents, when they arrive.
func (e *osExporter) toDocs(_ context.Context, ld plog.Logs) (xexporterhelper.Request, error) {
	return e.encodeDocs(ld), nil
}

// pushDocs is the queue consumers' push: index the request's documents.
func (e *osExporter) pushDocs(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*docsRequest)
	if !ok {
		return fmt.Errorf("cannot index a %T: not an OpenSearch request", req)
	}
	items, err := r.list()
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("cannot read the documents of a queued request: %w", err))
	}
	return e.pushItems(ctx, items)
}

// docsEncoding stores a docsRequest in the persistent queue (storage/docs/wal-format.md holds
// the values; this is one value):
//
//	version byte (1), uvarint count, then per document:
//	uvarint len + index name, uvarint len + _id, varint received (ns since the epoch),
//	uvarint len + document JSON
//
// Items queued by an earlier vigil, as the collector's protobuf log records, are read too (a
// protobuf message cannot start with byte 1: field number 0 does not exist).
type docsEncoding struct{ e *osExporter }

const docsEncodingVersion = 1

// Marshal returns the request's encoding: the bytes it was built in, or, for a request made by
// MergeSplit, its documents encoded anew. The bytes must not be changed.
func (docsEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*docsRequest)
	if !ok {
		return nil, fmt.Errorf("cannot store a %T in the OpenSearch queue", req)
	}
	if r.enc != nil {
		return r.enc[:len(r.enc):len(r.enc)], nil // an append by the storage copies
	}
	b := make([]byte, 0, r.bytes+16)
	b = append(b, docsEncodingVersion)
	b = binary.AppendUvarint(b, uint64(len(r.items)))
	for _, it := range r.items {
		b = binary.AppendUvarint(b, uint64(len(it.index)))
		b = append(b, it.index...)
		b = binary.AppendUvarint(b, uint64(len(it.id)))
		b = append(b, it.id...)
		b = binary.AppendVarint(b, int64(it.received))
		b = binary.AppendUvarint(b, uint64(len(it.doc)))
		b = append(b, it.doc...)
	}
	return b, nil
}

var errDocsEncoding = errors.New("damaged OpenSearch queue item")

// Unmarshal checks b and makes it the request's encoding (b is kept, not copied); records queued
// by an earlier vigil become documents.
func (d docsEncoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	ctx := context.Background()
	if len(b) > 0 && b[0] != docsEncodingVersion {
		ctx, ld, err := pdatareq.UnmarshalLogs(b)
		if errors.Is(err, pdatareq.ErrInvalidFormat) {
			ctx = context.Background()
			ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		}
		if err != nil {
			return ctx, nil, fmt.Errorf("%w: neither documents nor log records: %w", errDocsEncoding, err)
		}
		return ctx, d.e.encodeDocs(ld), nil
	}
	count, size, err := walkDocs(b, nil)
	if err != nil {
		return ctx, nil, err
	}
	return ctx, &docsRequest{enc: b, count: count, bytes: size}, nil
}

// walkDocs checks b, in docsEncoding, and calls fn (unless nil) with the fields of each document
// in turn, slices of b; it returns the number of documents and their itemBytes.
func walkDocs(b []byte, fn func(index, id []byte, received int64, doc []byte)) (count, size int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: empty", errDocsEncoding)
	}
	b = b[1:]
	n64, n := binary.Uvarint(b)
	if n <= 0 || n64 > uint64(len(b)) {
		return 0, 0, fmt.Errorf("%w: bad document count", errDocsEncoding)
	}
	b = b[n:]
	field := func() ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errDocsEncoding
		}
		v := b[n : n+int(l) : n+int(l)]
		b = b[n+int(l):]
		return v, nil
	}
	for range n64 {
		index, err := field()
		if err != nil {
			return 0, 0, err
		}
		id, err := field()
		if err != nil {
			return 0, 0, err
		}
		received, n := binary.Varint(b)
		if n <= 0 {
			return 0, 0, errDocsEncoding
		}
		b = b[n:]
		doc, err := field()
		if err != nil {
			return 0, 0, err
		}
		if fn != nil {
			fn(index, id, received, doc)
		}
		size += len(doc) + len(index) + len(id) + itemOverhead
	}
	if len(b) != 0 {
		return 0, 0, fmt.Errorf("%w: %d bytes after the last document", errDocsEncoding, len(b))
	}
	return int(n64), size, nil
}
