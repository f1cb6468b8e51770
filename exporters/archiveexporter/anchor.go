package archiveexporter

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/storage/archive"
)

// sealMark is the last seal of a stream written since start.
type sealMark struct {
	seq uint64
	at  time.Time
}

// sealChains seals each stream whose head moved since its last seal, once seal_interval has
// passed (all: now). Each seal is also logged and exported as a gauge: anchors outside the
// bucket, so that cutting off the newest objects and seals of a chain is still detected.
func (e *archiveExporter) sealChains(ctx context.Context, all bool) error {
	e.mu.Lock()
	type head struct {
		stream archive.Stream
		entry  archive.Entry
	}
	heads := map[string]head{}
	for c, s := range e.streams {
		if s.Head == nil {
			continue
		}
		mark := e.sealed[c]
		if mark.seq == s.Head.Seq || (!all && !mark.at.IsZero() && time.Since(mark.at) < e.cfg.SealInterval) {
			continue
		}
		heads[c] = head{stream: e.stream(c, s), entry: *s.Head}
	}
	e.mu.Unlock()
	var errs []error
	for c, h := range heads {
		seal, err := archive.WriteSeal(ctx, e.bucket, h.stream, h.entry, time.Now(), e.sealKey)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.mu.Lock()
		e.sealed[c] = sealMark{seq: seal.Seq, at: time.Now()}
		e.mu.Unlock()
		attrs := []attribute.KeyValue{attribute.String("cluster", c), attribute.String("tenant", e.cfg.Tenant)}
		fields := []zap.Field{zap.String("tenant", seal.Tenant), zap.String("cluster", seal.Cluster)}
		if seal.Writer != "" { // a stream without writer keeps the series and the log line it had
			attrs = append(attrs, attribute.String("writer", seal.Writer))
			fields = append(fields, zap.String("writer", seal.Writer))
		}
		e.sealedTo.Record(ctx, int64(seal.Seq), metric.WithAttributes(attrs...))
		e.logger.Info("archive chain sealed", append(fields,
			zap.Uint64("seq", seal.Seq), zap.String("hash", seal.Hash), zap.String("key_id", seal.KeyID))...)
	}
	return errors.Join(errs...)
}
