package servicemapconnector

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/periodic"
)

// userClient is the client of a request whose server span is a root span: something outside the
// traces (a browser, curl, an uninstrumented service) called it. Tempo names it the same.
const userClient = "user"

// unknownService is the service of spans whose resource has no service.name.
const unknownService = "unknown_service"

// maxInterned bounds the distinct names (services, clusters, peers) kept for reuse.
const maxInterned = 10_000

// servicemap pairs client and server spans into requests and counts them per edge. ConsumeTraces
// is safe for concurrent use: one lock guards the store, the edges and the names.
type servicemap struct {
	cfg     *Config
	next    consumer.Metrics
	logger  *zap.Logger
	tel     *telemetry
	peers   []string
	wait    int64 // nanoseconds
	now     func() time.Time
	tick    time.Duration
	mu      sync.Mutex
	store   *store
	edges   *edges
	names   map[string]string
	flushMu sync.Mutex     // one flush at a time: the copies below are reused
	snaps   []edgeSnapshot // the edges copied at the last flush
	flat    []uint64       // their histogram counts
	loop    periodic.Runner
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics) (*servicemap, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	bounds := make([]float64, len(cfg.LatencyHistogramBuckets))
	for i, b := range cfg.LatencyHistogramBuckets {
		bounds[i] = b.Seconds()
	}
	return &servicemap{
		cfg: cfg, next: next, logger: set.Logger, tel: tel, peers: cfg.VirtualNodePeerAttributes,
		wait: cfg.Wait.Nanoseconds(), now: time.Now, tick: min(max(cfg.Wait/4, 10*time.Millisecond), time.Second),
		store: newStore(cfg.MaxPendingEdges), edges: newEdges(bounds, cfg.MaxEdges), names: map[string]string{},
	}, nil
}

func (c *servicemap) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start starts the expiry of pending requests and the periodic flush of the metrics.
func (c *servicemap) Start(context.Context, component.Host) error {
	c.loop.Start(
		periodic.Task{Every: c.tick, Run: func(_ context.Context, now time.Time) { c.expire(now) }},
		periodic.Task{Every: c.cfg.MetricsFlushInterval, Run: func(ctx context.Context, _ time.Time) {
			if err := c.flush(ctx); err != nil {
				c.logger.Warn("cannot send the service map's metrics on", zap.Error(err))
			}
		}},
	)
	return nil
}

// Shutdown stops the background work and sends the metrics on one last time. It is idempotent
// and safe before Start.
func (c *servicemap) Shutdown(ctx context.Context) error {
	err := c.loop.Stop(ctx, c.flush)
	c.tel.shutdown()
	return err
}

// ConsumeTraces pairs the client and server spans of td with those already waiting, and counts
// the requests made whole. It never fails: spans it cannot use are counted.
func (c *servicemap) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var d [numReasons]int64
	now := c.now()
	nowNs, ts := now.UnixNano(), pcommon.NewTimestampFromTime(now)
	c.mu.Lock()
	for _, rs := range td.ResourceSpans().All() {
		service, cluster := c.identity(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				c.span(sp, service, cluster, nowNs, ts, &d)
			}
		}
	}
	c.gauges()
	c.mu.Unlock()
	c.tel.count(ctx, &d)
	return nil
}

func (c *servicemap) gauges() {
	c.tel.pending.Store(int64(c.store.len()))
	c.tel.edges.Store(int64(len(c.edges.m)))
}

// identity is the service and cluster of a resource.
func (c *servicemap) identity(attrs pcommon.Map) (service, cluster string) {
	service = unknownService
	if v, ok := attrs.Get("service.name"); ok && v.Str() != "" {
		service = c.intern(v.Str())
	}
	if v, ok := attrs.Get("k8s.cluster.name"); ok {
		cluster = c.intern(v.Str())
	}
	return service, cluster
}

// intern returns s as a string the connector may keep: the same copy for each name, up to
// maxInterned names, a fresh copy beyond.
func (c *servicemap) intern(s string) string {
	if v, ok := c.names[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(c.names) < maxInterned {
		c.names[v] = v
	}
	return v
}

func (c *servicemap) span(sp ptrace.Span, service, cluster string, nowNs int64, ts pcommon.Timestamp, d *[numReasons]int64) {
	kind := sp.Kind()
	client := kind == ptrace.SpanKindClient || kind == ptrace.SpanKindProducer
	if !client && kind != ptrace.SpanKindServer && kind != ptrace.SpanKindConsumer {
		return // not a side of a request between services
	}
	if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
		d[reasonInvalidID]++
		return
	}
	h := half{service: service, cluster: cluster, seconds: seconds(sp), failed: sp.Status().Code() == ptrace.StatusCodeError}
	messaging := kind == ptrace.SpanKindProducer || kind == ptrace.SpanKindConsumer
	if client {
		peer, database := c.peerOf(sp.Attributes(), kind == ptrace.SpanKindClient)
		if database != "" {
			// A database is not traced: the request is whole with the client span.
			c.count(&request{key: edgeKey{client: service, clientCluster: cluster, server: database, connection: connectionDatabase},
				failed: h.failed, serverSeconds: h.seconds, clientSeconds: h.seconds, trace: sp.TraceID(), span: sp.SpanID()}, ts, 1, d)
			return
		}
		k := spanKey{trace: sp.TraceID(), span: sp.SpanID()}
		p := c.store.get(k)
		if p == nil {
			p = c.add(k, nowNs, ts, d)
		} else if p.hasClient {
			d[reasonDuplicate]++ // the same client span again (a replay): the later one stands
		}
		p.client, p.hasClient, p.peer = h, true, peer
		p.messaging = p.messaging || messaging
		if p.hasServer {
			c.pair(p, ts, d)
		}
		return
	}
	if sp.ParentSpanID().IsEmpty() {
		// A root server span: called from outside the traces.
		c.count(&request{key: edgeKey{client: userClient, server: service, serverCluster: cluster, connection: connectionVirtualNode},
			failed: h.failed, serverSeconds: h.seconds, clientSeconds: h.seconds, trace: sp.TraceID(), span: sp.SpanID()}, ts, 1, d)
		return
	}
	k := spanKey{trace: sp.TraceID(), span: sp.ParentSpanID()}
	p := c.store.get(k)
	if p == nil {
		p = c.add(k, nowNs, ts, d)
	} else if p.hasServer {
		d[reasonDuplicate]++ // a replay, or a second consumer of one message: the later one stands
	}
	p.server, p.hasServer = h, true
	p.messaging = p.messaging || messaging
	if p.hasClient {
		c.pair(p, ts, d)
	}
}

// add makes room if the store is full (the oldest request gives up) and adds a request.
func (c *servicemap) add(k spanKey, nowNs int64, ts pcommon.Timestamp, d *[numReasons]int64) *pending {
	if c.store.full() {
		o := c.store.oldest()
		c.store.remove(o)
		c.giveUp(o, reasonEvicted, ts, d)
		c.store.release(o)
	}
	return c.store.add(k, nowNs+c.wait)
}

// pair counts a request whose two sides arrived and forgets it.
func (c *servicemap) pair(p *pending, ts pcommon.Timestamp, d *[numReasons]int64) {
	c.store.remove(p)
	conn := connectionDirect
	if p.messaging {
		conn = connectionMessaging
	}
	c.count(&request{key: edgeKey{client: p.client.service, clientCluster: p.client.cluster, server: p.server.service,
		serverCluster: p.server.cluster, connection: conn}, failed: p.client.failed || p.server.failed,
		serverSeconds: p.server.seconds, clientSeconds: p.client.seconds, trace: p.key.trace, span: p.key.span}, ts, 2, d)
	c.store.release(p)
}

// giveUp handles a request whose other side did not come: a client span that names its peer is
// a request to a virtual node; any other span is discarded for reason.
func (c *servicemap) giveUp(p *pending, reason int, ts pcommon.Timestamp, d *[numReasons]int64) {
	if p.hasClient && p.peer != "" {
		c.count(&request{key: edgeKey{client: p.client.service, clientCluster: p.client.cluster, server: p.peer,
			connection: connectionVirtualNode}, failed: p.client.failed, serverSeconds: p.client.seconds,
			clientSeconds: p.client.seconds, trace: p.key.trace, span: p.key.span}, ts, 1, d)
		return
	}
	d[reason]++
}

func (c *servicemap) count(r *request, ts pcommon.Timestamp, spans int64, d *[numReasons]int64) {
	if !c.edges.add(r, ts) {
		d[reasonMaxEdges] += spans
	}
}

// The attributes that make a client span a request to a database, and name the database: the
// first set of dbNames, after peer.service and server.address.
var (
	dbMarkers = []string{"db.system", "db.system.name", "db.name", "db.namespace"}
	dbNames   = []string{"peer.service", "server.address", "db.namespace", "db.name", "db.system.name", "db.system"}
)

// peerOf reads, in one pass over a client span's attributes, the virtual node it names (the first
// of virtual_node_peer_attributes set) and, for a CLIENT span to a database, the database's name.
func (c *servicemap) peerOf(attrs pcommon.Map, maybeDB bool) (peer, database string) {
	peerRank, dbRank := len(c.peers), len(dbNames)
	isDB := false
	for k, v := range attrs.All() {
		if i := index(c.peers[:peerRank], k); i >= 0 {
			if s := v.AsString(); s != "" {
				peerRank, peer = i, s
			}
		}
		if !maybeDB {
			continue
		}
		if index(dbMarkers, k) >= 0 {
			isDB = true
		}
		if i := index(dbNames[:dbRank], k); i >= 0 {
			if s := v.AsString(); s != "" {
				dbRank, database = i, s
			}
		}
	}
	if !isDB {
		database = ""
	}
	if peer != "" {
		peer = c.intern(peer)
	}
	if database != "" {
		database = c.intern(database)
	}
	return peer, database
}

func index(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func seconds(sp ptrace.Span) float64 {
	start, end := sp.StartTimestamp(), sp.EndTimestamp()
	if end <= start {
		return 0
	}
	return time.Duration(end - start).Seconds()
}

// expire gives up the requests that waited wait without their other side.
func (c *servicemap) expire(now time.Time) {
	var d [numReasons]int64
	nowNs, ts := now.UnixNano(), pcommon.NewTimestampFromTime(now)
	c.mu.Lock()
	for p := c.store.oldest(); p != nil && p.expires <= nowNs; p = c.store.oldest() {
		c.store.remove(p)
		c.giveUp(p, reasonExpired, ts, &d)
		c.store.release(p)
	}
	c.gauges()
	c.mu.Unlock()
	c.tel.count(context.Background(), &d)
}

// flush sends the cumulative metrics of every edge on. The edges are copied under the lock and
// their metrics built after it is released.
func (c *servicemap) flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	ts := pcommon.NewTimestampFromTime(c.now())
	c.mu.Lock()
	c.snaps, c.flat = c.edges.snapshot(c.snaps[:0], c.flat[:0])
	c.mu.Unlock()
	if len(c.snaps) == 0 {
		return nil
	}
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	if c.cfg.Instance != "" {
		rm.Resource().Attributes().PutStr("service.instance.id", c.cfg.Instance)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	appendTo(sm, c.snaps, c.edges.bounds, ts)
	return c.next.ConsumeMetrics(ctx, md)
}
