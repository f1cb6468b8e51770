package opensearchexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

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
type docsRequest struct {
	items []item
	bytes int
}

func newDocsRequest(items []item) *docsRequest {
	r := &docsRequest{items: items}
	for _, it := range items {
		r.bytes += itemBytes(it)
	}
	return r
}

// itemBytes is an item's share of a bulk body: its action line and its document.
func itemBytes(it item) int { return len(it.doc) + len(it.index) + len(it.id) + 40 }

func (r *docsRequest) ItemsCount() int { return len(r.items) }
func (r *docsRequest) BytesSize() int  { return r.bytes }

// MergeSplit appends r2's documents to r's and cuts the result into requests of at most maxSize
// (documents or bytes); used only when sending_queue.batch is configured.
func (r *docsRequest) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	all := r.items
	if r2 != nil {
		o, ok := r2.(*docsRequest)
		if !ok {
			return nil, fmt.Errorf("cannot merge a %T into an OpenSearch request", r2)
		}
		all = append(append(make([]item, 0, len(r.items)+len(o.items)), r.items...), o.items...)
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
	return newDocsRequest(e.documents(ld)), nil
}

// pushDocs is the queue consumers' push: index the request's documents.
func (e *osExporter) pushDocs(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*docsRequest)
	if !ok {
		return fmt.Errorf("cannot index a %T: not an OpenSearch request", req)
	}
	return e.pushItems(ctx, r.items)
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

func (docsEncoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*docsRequest)
	if !ok {
		return nil, fmt.Errorf("cannot store a %T in the OpenSearch queue", req)
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
		return ctx, newDocsRequest(d.e.documents(ld)), nil
	}
	if len(b) == 0 {
		return ctx, nil, fmt.Errorf("%w: empty", errDocsEncoding)
	}
	b = b[1:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return ctx, nil, fmt.Errorf("%w: bad document count", errDocsEncoding)
	}
	b = b[n:]
	field := func() ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errDocsEncoding
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		return v, nil
	}
	items := make([]item, 0, count)
	for range count {
		index, err := field()
		if err != nil {
			return ctx, nil, err
		}
		id, err := field()
		if err != nil {
			return ctx, nil, err
		}
		received, n := binary.Varint(b)
		if n <= 0 {
			return ctx, nil, errDocsEncoding
		}
		b = b[n:]
		doc, err := field()
		if err != nil {
			return ctx, nil, err
		}
		items = append(items, item{index: string(index), id: string(id), doc: doc, received: pcommon.Timestamp(received)})
	}
	if len(b) != 0 {
		return ctx, nil, fmt.Errorf("%w: %d bytes after the last document", errDocsEncoding, len(b))
	}
	return ctx, newDocsRequest(items), nil
}
