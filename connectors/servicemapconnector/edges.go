package servicemapconnector

import (
	"sort"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The metric and label names of Grafana Tempo's service graphs, which Grafana's service graph view
// queries. The names are already Prometheus names: Prometheus's OTLP translation leaves them as
// they are (TestNamesArePrometheusNames).
const (
	metricRequests      = "traces_service_graph_request_total"
	metricFailed        = "traces_service_graph_request_failed_total"
	metricServerSeconds = "traces_service_graph_request_server_seconds"
	metricClientSeconds = "traces_service_graph_request_client_seconds"

	labelClient         = "client"
	labelServer         = "server"
	labelConnectionType = "connection_type"
	labelClientCluster  = "client_k8s_cluster_name"
	labelServerCluster  = "server_k8s_cluster_name"
)

// connectionType is the connection_type label: empty for a direct request.
type connectionType uint8

const (
	connectionDirect connectionType = iota
	connectionMessaging
	connectionDatabase
	connectionVirtualNode
)

func (c connectionType) String() string {
	switch c {
	case connectionMessaging:
		return "messaging_system"
	case connectionDatabase:
		return "database"
	case connectionVirtualNode:
		return "virtual_node"
	}
	return ""
}

// edgeKey is one edge of the service map: one series of each metric.
type edgeKey struct {
	client, clientCluster, server, serverCluster string
	connection                                   connectionType
}

// edge is the cumulative figures of one edge since it was first seen.
type edge struct {
	start            pcommon.Timestamp
	requests, failed uint64
	server, client   histogram
	// exemplar: the last request seen since the previous flush, on the server histogram.
	hasExemplar bool
	exTrace     pcommon.TraceID
	exSpan      pcommon.SpanID
	exSeconds   float64
	exTime      pcommon.Timestamp
}

type histogram struct {
	counts []uint64 // len(bounds)+1
	sum    float64
	count  uint64
}

func (h *histogram) observe(bounds []float64, v float64) {
	h.counts[sort.SearchFloat64s(bounds, v)]++ // bucket i holds (bounds[i-1], bounds[i]]
	h.sum += v
	h.count++
}

// edges holds the edges, at most max. Not safe for concurrent use (the connector's lock).
type edges struct {
	m      map[edgeKey]*edge
	bounds []float64 // seconds
	max    int
}

func newEdges(bounds []float64, maxEdges int) *edges {
	return &edges{m: make(map[edgeKey]*edge), bounds: bounds, max: maxEdges}
}

// request is one request to count.
type request struct {
	key                          edgeKey
	failed                       bool
	serverSeconds, clientSeconds float64
	trace                        pcommon.TraceID
	span                         pcommon.SpanID
}

// add counts r; false when r's edge is new and max edges are held already.
func (e *edges) add(r *request, now pcommon.Timestamp) bool {
	ed := e.m[r.key]
	if ed == nil {
		if len(e.m) >= e.max {
			return false
		}
		ed = &edge{start: now, server: histogram{counts: make([]uint64, len(e.bounds)+1)},
			client: histogram{counts: make([]uint64, len(e.bounds)+1)}}
		e.m[r.key] = ed
	}
	ed.requests++
	if r.failed {
		ed.failed++
	}
	ed.server.observe(e.bounds, r.serverSeconds)
	ed.client.observe(e.bounds, r.clientSeconds)
	ed.hasExemplar, ed.exTrace, ed.exSpan, ed.exSeconds, ed.exTime = true, r.trace, r.span, r.serverSeconds, now
	return true
}

// snapshot appends a copy of every edge to dst (its histogram counts in flat) and forgets the
// exemplars copied: the metrics are built from the copy, outside the connector's lock.
func (e *edges) snapshot(dst []edgeSnapshot, flat []uint64) ([]edgeSnapshot, []uint64) {
	for k, ed := range e.m {
		dst = append(dst, edgeSnapshot{key: k, edge: *ed})
		flat = append(flat, ed.server.counts...)
		flat = append(flat, ed.client.counts...)
		ed.hasExemplar = false
	}
	// The copies' counts are those in flat (which moved as it grew).
	off := 0
	for i := range dst {
		s := &dst[i]
		nb := len(s.edge.server.counts)
		s.edge.server.counts = flat[off : off+nb : off+nb]
		s.edge.client.counts = flat[off+nb : off+2*nb : off+2*nb]
		off += 2 * nb
	}
	return dst, flat
}

// edgeSnapshot is one edge as it was at a flush.
type edgeSnapshot struct {
	key  edgeKey
	edge edge
}

// appendTo writes the cumulative metrics of the edges into sm, at time now.
func appendTo(sm pmetric.ScopeMetrics, snaps []edgeSnapshot, bounds []float64, now pcommon.Timestamp) {
	requests := newSum(sm, metricRequests, "Requests between two services (client → server): paired spans, and requests to or from a virtual node.")
	failed := newSum(sm, metricFailed, "Requests between two services of which the client or the server span has an error status.")
	server := newHistogram(sm, metricServerSeconds, "Time of a request between two services as the server saw it (the server span's duration; the client span's when no server span came).")
	client := newHistogram(sm, metricClientSeconds, "Time of a request between two services as the client saw it (the client span's duration; the server span's when no client span came).")
	requests.DataPoints().EnsureCapacity(len(snaps))
	failed.DataPoints().EnsureCapacity(len(snaps))
	server.DataPoints().EnsureCapacity(len(snaps))
	client.DataPoints().EnsureCapacity(len(snaps))
	for i := range snaps {
		k, ed := snaps[i].key, &snaps[i].edge
		dp := requests.DataPoints().AppendEmpty()
		setPoint(dp.Attributes(), k)
		dp.SetStartTimestamp(ed.start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(ed.requests))

		fp := failed.DataPoints().AppendEmpty()
		dp.Attributes().CopyTo(fp.Attributes())
		fp.SetStartTimestamp(ed.start)
		fp.SetTimestamp(now)
		fp.SetIntValue(int64(ed.failed))

		hp := histogramPoint(server, dp.Attributes(), bounds, ed, &ed.server, now)
		if ed.hasExemplar {
			ex := hp.Exemplars().AppendEmpty()
			ex.SetTraceID(ed.exTrace)
			ex.SetSpanID(ed.exSpan)
			ex.SetDoubleValue(ed.exSeconds)
			ex.SetTimestamp(ed.exTime)
		}
		histogramPoint(client, dp.Attributes(), bounds, ed, &ed.client, now)
	}
}

func histogramPoint(h pmetric.Histogram, attrs pcommon.Map, bounds []float64, ed *edge, hist *histogram, now pcommon.Timestamp) pmetric.HistogramDataPoint {
	hp := h.DataPoints().AppendEmpty()
	attrs.CopyTo(hp.Attributes())
	hp.SetStartTimestamp(ed.start)
	hp.SetTimestamp(now)
	hp.SetCount(hist.count)
	hp.SetSum(hist.sum)
	hp.ExplicitBounds().FromRaw(bounds)
	hp.BucketCounts().FromRaw(hist.counts)
	return hp
}

func newSum(sm pmetric.ScopeMetrics, name, desc string) pmetric.Sum {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit("{request}")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return s
}

func newHistogram(sm pmetric.ScopeMetrics, name, desc string) pmetric.Histogram {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return h
}

// setPoint sets an edge's labels; an empty value (an unknown cluster, a direct connection) is
// left out, as Prometheus leaves out an empty label.
func setPoint(attrs pcommon.Map, k edgeKey) {
	attrs.EnsureCapacity(5)
	attrs.PutStr(labelClient, k.client)
	attrs.PutStr(labelServer, k.server)
	put := func(name, v string) {
		if v != "" {
			attrs.PutStr(name, v)
		}
	}
	put(labelConnectionType, k.connection.String())
	put(labelClientCluster, k.clientCluster)
	put(labelServerCluster, k.serverCluster)
}
