package otlprelayreceiver

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// splitTracesRequest is request r of a stream in which every request has one span of each of
// traces first..first+n-1 (span ID r, trace ID i), under two services.
func splitTracesRequest(r, first, n int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	for svc := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", svc))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope")
		for i := first + svc; i < first+n; i += 2 {
			sp := ss.Spans().AppendEmpty()
			var tid [16]byte
			binary.BigEndian.PutUint64(tid[8:], uint64(i)+1)
			sp.SetTraceID(tid)
			var sid [8]byte
			binary.BigEndian.PutUint64(sid[:], uint64(r)+1)
			sp.SetSpanID(sid)
			sp.SetName(fmt.Sprintf("t%d-r%d", i, r))
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

// spansAt returns, per span name, how many times each sink took it; and the resource
// attributes of each span (the last seen).
func spansAt(sinks []*sink) (map[string][]int, map[string]string) {
	got, res := map[string][]int{}, map[string]string{}
	for i, s := range sinks {
		s.mu.Lock()
		for _, td := range s.traces {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						if got[sp.Name()] == nil {
							got[sp.Name()] = make([]int, len(sinks))
						}
						got[sp.Name()][i]++
						res[sp.Name()] = attrString(rs.Resource().Attributes().AsRaw()) + "/" + ss.Scope().Name()
					}
				}
			}
		}
		s.mu.Unlock()
	}
	return got, res
}

// TestRelaySplitsTracesByTraceID: over three gateways, each span reaches exactly one gateway,
// with its resource (stamped) and scope; all spans of a trace reach the same gateway although
// each request holds spans of every trace; every gateway gets a share. When one gateway answers
// UNAVAILABLE, its traces go to the others — each still whole on one — and nothing is lost.
func TestRelaySplitsTracesByTraceID(t *testing.T) {
	sinks := make([]*sink, 3)
	addrs := make([]string, 3)
	for i := range sinks {
		sinks[i], addrs[i] = startSink(t, "")
	}
	env := startRelay(t, t.TempDir(), "", 0, func(c *Config) {
		c.Forward.Endpoint = ""
		c.Forward.Endpoints = addrs
		c.Retry = RetryConfig{InitialInterval: 10 * time.Second, MaxInterval: 10 * time.Second} // a backoff would fail the test
	})
	client := ptraceotlp.NewGRPCClient(grpcConn(t, env.grpcAddr))
	const requests, traces = 20, 30
	send := func(first int) {
		for r := range requests {
			_, err := client.Export(context.Background(), splitTracesRequest(r, first, traces))
			require.NoError(t, err)
		}
	}
	check := func(first int, sinks []*sink) (perSink []int) {
		t.Helper()
		perSink = make([]int, len(sinks))
		testutil.Eventually(t, 10*time.Second, func() error {
			got, res := spansAt(sinks)
			clear(perSink)
			for i := first; i < first+traces; i++ {
				owner := -1
				for r := range requests {
					name := fmt.Sprintf("t%d-r%d", i, r)
					at := got[name]
					n, where := 0, -1
					for s, c := range at {
						n += c
						if c > 0 {
							where = s
						}
					}
					if n != 1 {
						return fmt.Errorf("span %s delivered %d times (%v)", name, n, at)
					}
					if owner >= 0 && where != owner {
						return fmt.Errorf("trace %d reached gateways %d and %d", i, owner, where)
					}
					owner = where
					want := fmt.Sprintf("k8s.cluster.name=c1,k8s.node.name=n1,service.name=svc-%d,/scope", i%2)
					if res[name] != want {
						return fmt.Errorf("span %s: resource/scope %q, want %q", name, res[name], want)
					}
				}
				perSink[owner]++
			}
			return nil
		})
		return perSink
	}
	send(0)
	perSink := check(0, sinks)
	for i, n := range perSink {
		require.Positive(t, n, "gateway %d got no trace: %v", i, perSink)
	}
	t.Logf("traces per gateway: %v", perSink)

	// The gateway that has the most traces goes away.
	gone := 0
	for i, n := range perSink {
		if n > perSink[gone] {
			gone = i
		}
	}
	sinks[gone].mu.Lock()
	sinks[gone].fail = status.Error(codes.Unavailable, "shutting down")
	sinks[gone].mu.Unlock()
	start := time.Now()
	send(1000)
	rest := append(append([]*sink(nil), sinks[:gone]...), sinks[gone+1:]...)
	perSink = check(1000, rest)
	require.Less(t, time.Since(start), 8*time.Second, "moved without waiting for a backoff")
	t.Logf("traces per remaining gateway after gateway %d went away: %v", gone, perSink)
	for i, n := range perSink {
		require.Positive(t, n, "remaining gateway %d got no trace: %v", i, perSink)
	}
}

// TestRelaySplitsMetricsBySeries: with routing::metrics series, over three gateways, all data points of a series (resource,
// metric name, point attributes) reach one gateway, each once, the series spread over all three.
func TestRelaySplitsMetricsBySeries(t *testing.T) {
	sinks := make([]*sink, 3)
	addrs := make([]string, 3)
	for i := range sinks {
		sinks[i], addrs[i] = startSink(t, "")
	}
	env := startRelay(t, t.TempDir(), "", 0, func(c *Config) {
		c.Forward.Endpoint = ""
		c.Forward.Endpoints = addrs
		c.Forward.Routing.Metrics = routeSeries
	})
	client := pmetricotlp.NewGRPCClient(grpcConn(t, env.grpcAddr))
	const requests, series = 10, 40
	for r := range requests {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "api")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("requests_total")
		m.SetUnit("1")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i := range series {
			dp := sum.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("route", fmt.Sprintf("/r%d", i))
			dp.SetTimestamp(pcommon.Timestamp(r + 1))
			dp.SetIntValue(int64(r))
		}
		_, err := client.Export(context.Background(), pmetricotlp.NewExportRequestFromMetrics(md))
		require.NoError(t, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		where := map[string]int{}
		points := map[string]int{}
		perSink := make([]int, 3)
		for i, s := range sinks {
			s.mu.Lock()
			for _, md := range s.metrics {
				for _, rm := range md.ResourceMetrics().All() {
					for _, sm := range rm.ScopeMetrics().All() {
						for _, m := range sm.Metrics().All() {
							if m.Unit() != "1" || !m.Sum().IsMonotonic() || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
								s.mu.Unlock()
								return fmt.Errorf("metric %s lost its unit, monotonicity or temporality", m.Name())
							}
							for _, dp := range m.Sum().DataPoints().All() {
								route, _ := dp.Attributes().Get("route")
								key := route.Str()
								points[fmt.Sprintf("%s@%d", key, dp.Timestamp())]++
								if w, ok := where[key]; ok && w != i {
									s.mu.Unlock()
									return fmt.Errorf("series %s reached gateways %d and %d", key, w, i)
								}
								if _, ok := where[key]; !ok {
									perSink[i]++
								}
								where[key] = i
							}
						}
					}
				}
			}
			s.mu.Unlock()
		}
		if len(points) != requests*series {
			return fmt.Errorf("%d of %d points", len(points), requests*series)
		}
		for p, n := range points {
			if n != 1 {
				return fmt.Errorf("point %s delivered %d times", p, n)
			}
		}
		for i, n := range perSink {
			if n == 0 {
				return fmt.Errorf("gateway %d got no series: %v", i, perSink)
			}
		}
		return nil
	})
}

// TestRelayMetricsAndLogsGoToTheAgentsGateway: by default (routing::metrics and ::logs node)
// metrics and logs are not split: over three gateways, all of them reach the one gateway of the
// agent's routing key, while its spans spread by trace ID.
func TestRelayMetricsAndLogsGoToTheAgentsGateway(t *testing.T) {
	sinks := make([]*sink, 3)
	addrs := make([]string, 3)
	for i := range sinks {
		sinks[i], addrs[i] = startSink(t, "")
	}
	env := startRelay(t, t.TempDir(), "", 0, func(c *Config) {
		c.Forward.Endpoint = ""
		c.Forward.Endpoints = addrs
	})
	owner := testRouter("n1", addrs...).pick().addr
	conn := grpcConn(t, env.grpcAddr)
	for r := range 5 {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("queue_depth")
		g := m.SetEmptyGauge()
		for i := range 40 {
			dp := g.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("queue", fmt.Sprintf("q%d", i))
			dp.SetIntValue(int64(r))
		}
		_, err := pmetricotlp.NewGRPCClient(conn).Export(context.Background(), pmetricotlp.NewExportRequestFromMetrics(md))
		require.NoError(t, err)
		_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest(fmt.Sprintf("r%d", r), "svc", 10))
		require.NoError(t, err)
		_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), splitTracesRequest(r, 0, 30))
		require.NoError(t, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for i, s := range sinks {
			s.mu.Lock()
			points, logs, spans := 0, 0, 0
			for _, md := range s.metrics {
				points += md.DataPointCount()
			}
			for _, ld := range s.logs {
				logs += ld.LogRecordCount()
			}
			for _, td := range s.traces {
				spans += td.SpanCount()
			}
			s.mu.Unlock()
			if addrs[i] == owner && (points != 5*40 || logs != 50) {
				return fmt.Errorf("the agent's gateway has %d points and %d records", points, logs)
			}
			if addrs[i] != owner && (points != 0 || logs != 0) {
				return fmt.Errorf("gateway %d has %d points and %d records", i, points, logs)
			}
			if spans == 0 {
				return fmt.Errorf("gateway %d has no span", i)
			}
		}
		return nil
	})
}
