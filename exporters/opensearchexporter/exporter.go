package opensearchexporter

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/buger/jsonparser"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/exporters/opensearchexporter/internal/metadata"
)

type osExporter struct {
	cfg    *Config
	logger *zap.Logger
	client *opensearch.Client

	installed atomic.Bool
	lastIndex atomic.Pointer[dayIndex]
	dlMu      sync.Mutex

	indexed, itemErrors, deadLettered, bulks metric.Int64Counter
	replaced                                 metric.Int64Counter // events' members left out for vigil's fields
	lag                                      metric.Float64Histogram

	telemetry *metadata.TelemetryBuilder // its oldest-age callback is registered from start to shutdown
	waiting   *waiting
	bodies    bodyPool // of bulk request bodies
}

func newExporter(set exporter.Settings, cfg *Config) (*osExporter, error) {
	e := &osExporter{cfg: cfg, logger: set.Logger,
		waiting: newWaiting(staleAfter(cfg.RetryConfig.MaxInterval, cfg.TimeoutConfig.Timeout)),
		bodies:  bodyPool{max: 2 * cfg.MaxBulkBytes}}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e.telemetry = tb
	e.indexed, e.itemErrors, e.deadLettered = tb.OpensearchIndexedDocuments, tb.OpensearchItemErrors, tb.OpensearchDeadLetterDocuments
	e.bulks, e.lag, e.replaced = tb.OpensearchBulkRequests, tb.OpensearchDeliveryLagSeconds, tb.OpensearchReplacedFields
	return e, nil
}

func (e *osExporter) start(ctx context.Context, _ component.Host) error {
	tlsCfg, err := e.cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return fmt.Errorf("cannot load the opensearch exporter's tls settings: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		transport.TLSClientConfig = tlsCfg
	} else {
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	e.client, err = opensearch.NewClient(opensearch.Config{
		Addresses: e.cfg.Endpoints, Username: e.cfg.Username, Password: string(e.cfg.Password),
		Transport: transport, DisableRetry: true, // retries are ours: per item, and the queue's
	})
	if err != nil {
		return fmt.Errorf("cannot create the OpenSearch client: %w", err)
	}
	if err := os.MkdirAll(e.cfg.DeadLetterDir, 0o700); err != nil {
		return fmt.Errorf("cannot create dead_letter_dir %q: %w", e.cfg.DeadLetterDir, err)
	}
	// OpenSearch may be down while vigil starts: the queue holds the data, and every push first
	// makes sure the template and policy are installed.
	if err := e.install(ctx); err != nil {
		e.logger.Warn("OpenSearch template and ISM policy not installed yet; retrying before the first bulk", zap.Error(err))
	} else {
		e.installed.Store(true)
	}
	err = e.telemetry.RegisterOpensearchOldestAgeSecondsCallback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(e.waiting.age(time.Now()).Seconds())
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot register the callback of vigil_opensearch_oldest_age_seconds: %w", err)
	}
	return nil
}

// shutdown stops the client's background work; safe before start.
func (e *osExporter) shutdown(context.Context) error {
	e.telemetry.Shutdown()
	if e.client == nil {
		return nil
	}
	err := e.client.Close()
	e.client = nil
	return err
}

// item is one document to index.
type item struct {
	index, id string
	doc       []byte
	received  pcommon.Timestamp // when vigil received the event (0: unknown)
}

// pushItems indexes documents, in bulk requests of at most max_bulk_bytes. A retryable error
// leaves them to the retry sender, which calls again with the same request; until then they
// count in vigil_opensearch_oldest_age_seconds.
func (e *osExporter) pushItems(ctx context.Context, items []item) (err error) {
	if len(items) > 0 {
		now := time.Now()
		fp := fingerprintOf(items)
		e.waiting.begin(fp, oldestReceived(items, now), now)
		defer func() { e.waiting.end(fp, err == nil || consumererror.IsPermanent(err), time.Now()) }()
	}
	if !e.installed.Load() {
		if err := e.install(ctx); err != nil {
			return fmt.Errorf("OpenSearch not ready, the queue keeps the data: %w", err)
		}
		e.installed.Store(true)
	}
	start, size := 0, 0 // the chunk of items[start:] not sent yet, and its size
	for i, it := range items {
		n := itemBytes(it)
		if i > start && size+n > e.cfg.MaxBulkBytes {
			if err := e.indexWithRetries(ctx, items[start:i:i]); err != nil {
				return err
			}
			start, size = i, 0
		}
		size += n
	}
	if start == len(items) {
		return nil
	}
	return e.indexWithRetries(ctx, items[start:])
}

// indexWithRetries sends items; items rejected with 429/5xx (or a cluster block) are re-sent,
// alone, with backoff and jitter; permanently rejected ones are dead-lettered.
func (e *osExporter) indexWithRetries(ctx context.Context, items []item) error {
	backoff := e.cfg.ItemBackoff
	for attempt := 0; ; attempt++ {
		retry, err := e.bulk(ctx, items)
		if err != nil {
			return err
		}
		if len(retry) == 0 {
			return nil
		}
		if attempt >= e.cfg.ItemRetries {
			return fmt.Errorf("%d of %d documents still rejected by OpenSearch after %d retries (item_retries), the queue retries later: %s",
				len(retry), len(items), attempt, retry[0].reason)
		}
		wait := backoff/2 + rand.N(backoff) //nolint:gosec // jitter, not security: 0.5x to 1.5x
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff *= 2
		items = make([]item, len(retry))
		for i, r := range retry {
			items[i] = r.item
		}
	}
}

type rejected struct {
	item
	reason string
}

// bulk sends one bulk request and classifies the outcome: the items to re-send, or an error for
// the whole request (retryable unless permanent).
func (e *osExporter) bulk(ctx context.Context, items []item) ([]rejected, error) {
	size := 0
	for _, it := range items {
		size += itemBytes(it)
	}
	body := e.bodies.get(size)
	body.b = appendBulk(body.b, items)
	status, resp, err := e.doNDJSON(ctx, body)
	body.release()
	if err != nil {
		e.bulks.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "error")))
		return nil, fmt.Errorf("bulk request to OpenSearch failed: %w", err)
	}
	e.bulks.Add(ctx, 1, metric.WithAttributes(attribute.String("status", fmt.Sprintf("%dxx", status/100))))
	switch {
	case status == http.StatusRequestEntityTooLarge:
		if len(items) == 1 {
			e.deadLetter(items[0], status, "request_entity_too_large", "document larger than OpenSearch's http.max_content_length")
			return nil, nil
		}
		half := len(items) / 2
		r1, err := e.bulk(ctx, items[:half])
		if err != nil {
			return nil, err
		}
		r2, err := e.bulk(ctx, items[half:])
		return append(r1, r2...), err
	case status == http.StatusTooManyRequests || status >= 500:
		return nil, fmt.Errorf("OpenSearch answered %d to a bulk request, retrying later: %s", status, truncate(resp))
	case status != http.StatusOK:
		for _, it := range items {
			e.deadLetter(it, status, "request_rejected", truncate(resp))
		}
		return nil, consumererror.NewPermanent(fmt.Errorf("OpenSearch rejected a bulk request with %d: %s", status, truncate(resp)))
	}
	now := time.Now()
	if bulkSucceeded(resp, len(items)) { // the common answer, not decoded further
		for _, it := range items {
			e.recordLag(ctx, it, now)
		}
		e.indexed.Add(ctx, int64(len(items)))
		return nil, nil
	}
	var br opensearchapi.BulkResp
	if err := json.Unmarshal(resp, &br); err != nil {
		return nil, fmt.Errorf("cannot decode OpenSearch's bulk answer: %w", err)
	}
	if len(br.Items) != len(items) {
		return nil, fmt.Errorf("OpenSearch answered %d bulk items for %d documents", len(br.Items), len(items))
	}
	var retry []rejected
	ok := 0
	blocked := false
	for i, m := range br.Items {
		for _, res := range m {
			switch {
			case res.Status >= 200 && res.Status < 300:
				ok++
				e.recordLag(ctx, items[i], now)
			case res.Error != nil && res.Error.Type == "cluster_block_exception":
				blocked = true
				e.itemErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "cluster_block")))
				retry = append(retry, rejected{items[i], res.Error.Type + ": " + res.Error.Reason})
			case res.Status == http.StatusTooManyRequests || res.Status >= 500:
				e.itemErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "retryable")))
				reason := fmt.Sprint(res.Status)
				if res.Error != nil {
					reason = res.Error.Type + ": " + res.Error.Reason
				}
				retry = append(retry, rejected{items[i], reason})
			default:
				e.itemErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "permanent")))
				typ, reason := "unknown", ""
				if res.Error != nil {
					typ, reason = res.Error.Type, res.Error.Reason
				}
				e.deadLetter(items[i], res.Status, typ, reason)
			}
		}
	}
	e.indexed.Add(ctx, int64(ok))
	if blocked {
		e.logger.Error("OpenSearch refuses writes (cluster block, e.g. flood-stage disk watermark); the queue holds the data until it clears",
			zap.String("reason", retry[0].reason))
	}
	return retry, nil
}

// bulkSucceeded reports whether resp, OpenSearch's answer to a bulk request of n documents,
// says that every one succeeded ("errors": false, as the bulk API documents it) and holds n
// items. It reads no more of the answer than that: decoding every item result was a tenth of the
// audit path's CPU (benchmarks/RESULTS.md). Any other answer is decoded item by item.
func bulkSucceeded(resp []byte, n int) bool {
	failed, err := jsonparser.GetBoolean(resp, "errors")
	if err != nil || failed {
		return false
	}
	count := 0
	_, err = jsonparser.ArrayEach(resp, func([]byte, jsonparser.ValueType, int, error) { count++ }, "items")
	return err == nil && count == n
}

// recordLag records how long it took it from its receipt to being indexed.
func (e *osExporter) recordLag(ctx context.Context, it item, now time.Time) {
	if r := it.received; r != 0 {
		e.lag.Record(ctx, now.Sub(r.AsTime()).Seconds())
	}
}

// appendBulk appends the bulk request lines of items: per item its action line and its document.
func appendBulk(b []byte, items []item) []byte {
	for _, it := range items {
		b = appendAction(b, it)
		b = append(b, it.doc...)
		b = append(b, '\n')
	}
	return b
}

// appendAction appends the bulk action line of it, as encoding/json writes
// {"index":{"_index":...,"_id":...}} (keys sorted).
func appendAction(b []byte, it item) []byte {
	b = append(b, `{"index":{"_id":`...)
	b = appendJSONString(b, it.id)
	b = append(b, `,"_index":`...)
	b = appendJSONString(b, it.index)
	return append(b, "}}\n"...)
}

// doNDJSON sends a bulk request; the client closes the readers of body it was given.
func (e *osExporter) doNDJSON(ctx context.Context, body *bulkBody) (int, []byte, error) {
	rd, err := body.reader()
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_bulk", rd)
	if err != nil {
		_ = rd.Close()
		return 0, nil, err
	}
	req.ContentLength = int64(len(body.b))
	req.GetBody = body.reader
	req.Header.Set("Content-Type", "application/x-ndjson")
	return e.send(req)
}

// deadLetter appends a permanently rejected document to <dead_letter_dir>/<prefix>-YYYY-MM-DD.ndjson.
func (e *osExporter) deadLetter(it item, status int, typ, reason string) {
	e.deadLettered.Add(context.Background(), 1)
	line, _ := json.Marshal(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "index": it.index, "_id": it.id, "status": status,
		"error": map[string]string{"type": typ, "reason": reason}, "document": json.RawMessage(it.doc),
	})
	e.dlMu.Lock()
	defer e.dlMu.Unlock()
	path := filepath.Join(e.cfg.DeadLetterDir, e.cfg.IndexPrefix+"-"+time.Now().UTC().Format("2006-01-02")+".ndjson")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		e.logger.Error("cannot write a rejected document to the dead-letter directory", zap.String("path", path), zap.Error(err))
	}
	e.logger.Warn("OpenSearch rejected a document permanently; written to the dead-letter directory",
		zap.String("index", it.index), zap.String("id", it.id), zap.Int("status", status), zap.String("type", typ), zap.String("reason", reason))
}

func truncate(b []byte) string {
	if len(b) > 512 {
		return string(b[:512]) + "..."
	}
	return string(b)
}
