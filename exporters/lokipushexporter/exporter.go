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

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
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

// push sends ld, one request per tenant. Loki's 2xx and 4xx answers (the latter dead-lettered)
// settle a tenant's streams; a 429, a 5xx or no answer leaves them, alone, to the retry sender
// and the queue.
func (e *lokiExporter) push(ctx context.Context, ld plog.Logs) error {
	var retry []error
	failed := map[string]bool{}
	for _, b := range Convert(ld, e.cfg.tenant, time.Now()) {
		if err := e.send(ctx, b); err != nil {
			retry = append(retry, err)
			failed[b.Tenant] = true
		}
	}
	if len(retry) == 0 {
		return nil
	}
	err := errors.Join(retry...)
	if len(failed) == len(retry) && len(retry) < tenantCount(ld, e.cfg.tenant) {
		return consumererror.NewLogs(err, e.ofTenants(ld, failed))
	}
	return err
}

// send pushes one tenant's batch and classifies Loki's answer: nil when settled, else an error
// to retry (with Loki's Retry-After when it gave one).
func (e *lokiExporter) send(ctx context.Context, b Batch) error {
	body, err := encode(&b.Request)
	if err != nil {
		e.deadLetter(b, 0, reasonUnencoding, err.Error())
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("cannot build a Loki push request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "vigil-lokipush")
	if b.Tenant != "" {
		req.Header.Set("X-Scope-OrgID", b.Tenant)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "error")))
		return fmt.Errorf("cannot push to Loki (tenant %q), the queue keeps the logs: %w", b.Tenant, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	msg := strings.TrimSpace(string(answer))
	switch s := resp.StatusCode; {
	case s/100 == 2:
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "2xx")))
		e.sent.Add(ctx, int64(b.Entries))
		return nil
	case s == http.StatusTooManyRequests || s >= 500:
		class := "5xx"
		if s == http.StatusTooManyRequests {
			class = "429"
		}
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", class)))
		err := fmt.Errorf("loki answered %d (tenant %q), retrying later: %s", s, b.Tenant, msg)
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return exporterhelper.NewThrottleRetry(err, d)
		}
		return err
	default:
		e.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", "4xx")))
		e.deadLetter(b, s, reasonRejected, msg)
		return nil
	}
}

// marshalBuffers keeps the protobuf buffers of push requests between pushes: a request is
// encoded into one, compressed into a new slice (the HTTP client may read it after send
// returns), and the buffer is put back.
var marshalBuffers sync.Pool

// encode is a push request as Loki reads it: protobuf, then snappy's block format (s2's snappy
// encoder at its default speed: the same format, several times cheaper than its "better" mode).
func encode(r *push.PushRequest) ([]byte, error) {
	size := r.Size()
	bp, _ := marshalBuffers.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		b := make([]byte, size)
		bp = &b
	}
	raw := (*bp)[:size]
	n, err := r.MarshalToSizedBuffer(raw)
	if err != nil {
		return nil, err
	}
	out := s2.EncodeSnappy(nil, raw[size-n:])
	marshalBuffers.Put(bp)
	return out, nil
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

// tenantCount is the number of tenants ld's resources belong to.
func tenantCount(ld plog.Logs, tenant func(string) string) int {
	seen := map[string]bool{}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		seen[tenant(clusterOf(rls.At(i)))] = true
	}
	return len(seen)
}

// ofTenants copies the resource logs of ld that belong to the given tenants.
func (e *lokiExporter) ofTenants(ld plog.Logs, tenants map[string]bool) plog.Logs {
	out := plog.NewLogs()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		if tenants[e.cfg.tenant(clusterOf(rls.At(i)))] {
			rls.At(i).CopyTo(out.ResourceLogs().AppendEmpty())
		}
	}
	return out
}

// clusterOf is the k8s.cluster.name of rl's resource, "" when it has none (a zero Value's
// AsString would panic).
func clusterOf(rl plog.ResourceLogs) string {
	if v, ok := rl.Resource().Attributes().Get(LabelAttributes[LabelCluster]); ok {
		return v.AsString()
	}
	return ""
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
