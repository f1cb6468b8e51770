package lokipushexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/exporters/lokipushexporter/internal/metadata"
)

// Reasons of vigil_lokipush_dead_letter_entries.
const (
	reasonRejected   = "rejected"    // Loki answered 4xx (not 429)
	reasonUnencoding = "unencodable" // the request could not be encoded
)

type lokiExporter struct {
	cfg    *Config
	set    exporter.Settings
	logger *zap.Logger
	client *http.Client
	url    string
	dlMu   sync.Mutex

	sent, requests, deadLettered metric.Int64Counter
}

func newExporter(set exporter.Settings, cfg *Config) (*lokiExporter, error) {
	e := &lokiExporter{cfg: cfg, set: set, logger: set.Logger,
		url: strings.TrimRight(cfg.ClientConfig.Endpoint, "/") + PushPath}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e.sent, e.requests, e.deadLettered = tb.LokipushSentEntries, tb.LokipushRequests, tb.LokipushDeadLetterEntries
	return e, nil
}

func (e *lokiExporter) start(ctx context.Context, host component.Host) error {
	if err := os.MkdirAll(e.cfg.DeadLetterDir, 0o700); err != nil {
		return fmt.Errorf("cannot create dead_letter_dir %q: %w", e.cfg.DeadLetterDir, err)
	}
	client, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("cannot create the lokipush exporter's HTTP client: %w", err)
	}
	e.client = client
	return nil
}

// shutdown closes idle connections; safe before start.
func (e *lokiExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	return nil
}

// send pushes one tenant's request and classifies Loki's answer: nil when settled, else an error
// to retry (with Loki's Retry-After when it gave one).
func (e *lokiExporter) send(ctx context.Context, p *part) error {
	if len(p.body) == 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(p.body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("cannot build a Loki push request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "vigil-lokipush")
	if p.tenant != "" {
		req.Header.Set("X-Scope-OrgID", p.tenant)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "error")))
		return fmt.Errorf("cannot push to Loki (tenant %q), the queue keeps the logs: %w", p.tenant, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	msg := strings.TrimSpace(string(answer))
	switch s := resp.StatusCode; {
	case s/100 == 2:
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "2xx")))
		e.sent.Add(ctx, int64(p.entries))
		return nil
	case s == http.StatusTooManyRequests || s >= 500:
		class := "5xx"
		if s == http.StatusTooManyRequests {
			class = "429"
		}
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", class)))
		err := fmt.Errorf("loki answered %d (tenant %q), retrying later: %s", s, p.tenant, msg)
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return exporterhelper.NewThrottleRetry(err, d)
		}
		return err
	default:
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "4xx")))
		e.deadLetterPart(p, s, reasonRejected, msg)
		return nil
	}
}

func retryAfter(h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// clusterOf is the k8s.cluster.name of rl's resource, "" when it has none (a zero Value's
// AsString would panic).
func clusterOf(rl plog.ResourceLogs) string {
	if v, ok := rl.Resource().Attributes().Get(LabelAttributes[LabelCluster]); ok {
		return v.AsString()
	}
	return ""
}

// deadLetterPart dead-letters a queued tenant's request: decoded from its snappy body, only on
// this rare path, so that the file holds what it held when the queue held logs.
func (e *lokiExporter) deadLetterPart(p *part, status int, reason, msg string) {
	b, err := p.batch()
	if err != nil {
		e.deadLettered.Add(context.Background(), int64(p.entries), metric.WithAttributes(attribute.String("reason", reason)))
		e.logger.Error("Loki rejected a push request whose queued body cannot be decoded for the dead-letter directory",
			zap.String("tenant", p.tenant), zap.Int("status", status), zap.Int("entries", p.entries), zap.String("error", msg), zap.NamedError("decode_error", err))
		return
	}
	e.deadLetter(b, status, reason, msg)
}

// deadLetter appends the streams of a rejected batch to <dead_letter_dir>/loki-YYYY-MM-DD.ndjson,
// one line per stream, with the status and Loki's reason. Loki rejects a request when some of
// its entries are invalid and may have stored the others: the line holds the whole stream.
func (e *lokiExporter) deadLetter(b Batch, status int, reason, msg string) {
	e.deadLettered.Add(context.Background(), int64(b.Entries), metric.WithAttributes(attribute.String("reason", reason)))
	type entry struct {
		Time     string            `json:"ts"`
		Line     string            `json:"line"`
		Metadata map[string]string `json:"structured_metadata,omitempty"`
	}
	now := time.Now().UTC()
	var buf bytes.Buffer
	for _, s := range b.Request.Streams {
		entries := make([]entry, len(s.Entries))
		for i, en := range s.Entries {
			entries[i] = entry{Time: en.Timestamp.UTC().Format(time.RFC3339Nano), Line: en.Line}
			if len(en.StructuredMetadata) > 0 {
				entries[i].Metadata = map[string]string{}
				for _, m := range en.StructuredMetadata {
					entries[i].Metadata[m.Name] = m.Value
				}
			}
		}
		line, _ := json.Marshal(map[string]any{"time": now.Format(time.RFC3339Nano), "tenant": b.Tenant,
			"status": status, "reason": reason, "error": msg, "labels": s.Labels, "entries": entries})
		buf.Write(line)
		buf.WriteByte('\n')
	}
	e.dlMu.Lock()
	defer e.dlMu.Unlock()
	path := filepath.Join(e.cfg.DeadLetterDir, "loki-"+now.Format("2006-01-02")+".ndjson")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.Write(buf.Bytes())
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		e.logger.Error("cannot write rejected Loki streams to the dead-letter directory", zap.String("path", path), zap.Error(err))
	}
	e.logger.Warn("Loki rejected a push request; its streams are in the dead-letter directory",
		zap.String("tenant", b.Tenant), zap.Int("status", status), zap.Int("entries", b.Entries), zap.String("error", msg))
}
