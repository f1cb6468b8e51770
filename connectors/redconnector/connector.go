package redconnector

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/xhash"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/periodic"
)

// red counts spans into RED series and sends them on periodically. ConsumeTraces is safe for
// concurrent use: one lock guards the store.
type red struct {
	cfg       *Config
	next      consumer.Metrics
	logger    *zap.Logger
	tel       *telemetry
	exemplars bool
	now       func() time.Time
	mu        sync.Mutex
	store     *store
	adj       adjuster
	flushMu   sync.Mutex // one flush at a time: the snapshot below is reused
	snap      snapshot
	loop      periodic.Runner
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics) (*red, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	bounds := make([]float64, len(cfg.Histogram.Buckets))
	for i, b := range cfg.Histogram.Buckets {
		bounds[i] = float64(b.Nanoseconds()) / float64(time.Millisecond.Nanoseconds())
	}
	maxEx := 0
	if cfg.Exemplars.Enabled {
		maxEx = cfg.Exemplars.MaxPerDataPoint
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	c := &red{cfg: cfg, next: next, logger: set.Logger, tel: tel, exemplars: maxEx > 0, now: time.Now,
		store: newStore(bounds, maxEx, cfg.MaxSeries, cfg.MaxResources, instanceID(set.Resource))}
	c.adj.rng = binary.LittleEndian.Uint64(seed[:]) | 1
	return c, nil
}

// instanceID is the value of the collector.instance.id attribute of every data point (as the
// spanmetrics connector adds it): the collector's resource's collector.instance.id, else its
// service.instance.id, else a random UUID. Replicas then never write the same series.
func instanceID(res pcommon.Resource) string {
	for _, k := range []string{"collector.instance.id", "service.instance.id"} {
		if v, ok := res.Attributes().Get(k); ok && v.AsString() != "" {
			return v.AsString()
		}
	}
	return uuid.NewString()
}

func (c *red) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start starts the periodic flush of the metrics.
func (c *red) Start(context.Context, component.Host) error {
	c.loop.Start(periodic.Task{Every: c.cfg.MetricsFlushInterval, Run: func(ctx context.Context, _ time.Time) {
		if err := c.flush(ctx); err != nil {
			c.logger.Warn("cannot send the RED metrics on", zap.Error(err))
		}
	}})
	return nil
}

// Shutdown stops the periodic flush and sends the metrics on one last time. It is idempotent and
// safe before Start.
func (c *red) Shutdown(ctx context.Context) error {
	err := c.loop.Stop(ctx, c.flush)
	c.tel.shutdown()
	return err
}

// ConsumeTraces counts the spans of td in their series. It never fails: spans it cannot count
// are counted by reason.
func (c *red) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var d [numReasons]int64
	var received int64
	now := c.now()
	nowNs, ts := now.UnixNano(), pcommon.NewTimestampFromTime(now)
	s := c.store
	c.mu.Lock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		n := int64(0)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			n += int64(sss.At(j).Spans().Len())
		}
		received += n
		if n == 0 {
			continue
		}
		svc, ok := attrs.Get("service.name")
		if !ok {
			d[reasonNoServiceName] += n
			continue
		}
		r := s.resource(xhash.MapHash(attrs), attrs, svc.Str(), nowNs)
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				c.span(r, spans.At(k), ts, &d)
			}
		}
	}
	evicted := s.evictions
	s.evictions = 0
	c.tel.series.Store(int64(s.nseries))
	c.tel.resources.Store(int64(len(s.resources)))
	c.mu.Unlock()
	c.tel.count(ctx, received, evicted, &d)
	return nil
}

// span counts one span of resource r.
func (c *red) span(r *resource, sp ptrace.Span, ts pcommon.Timestamp, d *[numReasons]int64) {
	s := c.store
	sr, overflow := s.get(r, sp.Name(), kindIndex(sp.Kind()), statusIndex(sp.Status().Code()), ts)
	if overflow {
		d[reasonMaxSeries]++
	}
	ms := 0.0
	if start, end := sp.StartTimestamp(), sp.EndTimestamp(); end > start {
		ms = float64(end-start) / float64(time.Millisecond.Nanoseconds())
	}
	s.observe(sr, ms, c.adj.adjusted(sp.TraceState().AsRaw()))
	if c.exemplars && !overflow && len(sr.exemplars) < cap(sr.exemplars) {
		if tid := sp.TraceID(); !tid.IsEmpty() {
			sr.exemplars = append(sr.exemplars, exemplar{traceID: tid, spanID: sp.SpanID(), value: ms})
		}
	}
}
