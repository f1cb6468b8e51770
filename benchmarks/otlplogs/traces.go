package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// generateTraces runs workers, each posting OTLP/HTTP protobuf requests of batch spans (8 spans
// per trace, random trace IDs, 16 different requests per worker in turn) to the agent's
// /v1/traces for duration, each request until it is acknowledged (429/503: again after 10 ms).
// It returns how many spans were acknowledged.
func generateTraces(ctx context.Context, endpoint string, duration time.Duration, workers, batch int) (int64, error) {
	var sent atomic.Int64
	errs := make(chan error, workers)
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		reqs := make([][]byte, 16)
		for i := range reqs {
			reqs[i] = makeSpans(w*len(reqs)+i, batch)
		}
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				for {
					resp, err := client.Post("http://"+endpoint+"/v1/traces", "application/x-protobuf", bytes.NewReader(reqs[i%len(reqs)]))
					if err != nil {
						errs <- fmt.Errorf("export: %w", err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
					if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
						errs <- fmt.Errorf("export: the agent answered %s", resp.Status)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				sent.Add(int64(batch))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return sent.Load(), err
	}
	return sent.Load(), nil
}

// makeSpans is an ExportTraceServiceRequest of n server spans of an HTTP service (~250 B of
// attributes each), 8 spans per trace of random ID, under 4 resources.
func makeSpans(seed, n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	td := ptrace.NewTraces()
	ids := make([][16]byte, max(1, n/8))
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], rng.Uint64())
	}
	now := time.Now()
	for r := range 4 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("checkout-%d", r))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		for i := r; i < n; i += 4 {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(ids[(i/8)%len(ids)])
			var sid [8]byte
			binary.BigEndian.PutUint64(sid[:], rng.Uint64())
			sp.SetSpanID(sid)
			sp.SetName("GET /api/v1/orders/{id}")
			sp.SetKind(ptrace.SpanKindServer)
			start := now.Add(time.Duration(rng.IntN(1e9)))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(rng.IntN(2e8)))))
			sp.Attributes().PutStr("http.request.method", "GET")
			sp.Attributes().PutStr("url.path", fmt.Sprintf("/api/v1/orders/%08d", rng.IntN(1e8)))
			sp.Attributes().PutInt("http.response.status_code", 200)
			sp.Attributes().PutStr("server.address", "orders.shop.svc.cluster.local")
			sp.Attributes().PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}
