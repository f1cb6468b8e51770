package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// load is one run's bounded OTLP/HTTP load: workers send requests of batch items (log records or
// samples) until total items are acknowledged. Every item is unique in its stream or series
// (time and, for logs, line), so that neither Loki nor Prometheus folds two into one.
type load struct {
	endpoint string // https://host:port
	tls      *tls.Config
	token    string
	workers  int
	batch    int
	total    int64
	series   int    // metrics: series in all (across workers)
	prefix   string // metrics: metric name prefix of this run
}

// pods per worker: each request comes from one pod (its own resource), pods in turn.
const podsPerWorker = 4

func (l load) run(ctx context.Context, signal string) (int64, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: l.tls, MaxIdleConnsPerHost: l.workers}, Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	var sent atomic.Int64
	perWorker := (l.total + int64(l.workers) - 1) / int64(l.workers)
	requests := int((perWorker + int64(l.batch) - 1) / int64(l.batch))
	base := time.Now().Add(-10 * time.Minute)
	errs := make(chan error, l.workers)
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			seriesPerWorker := max(l.series/l.workers, l.batch)
			for i := range requests {
				var body []byte
				var err error
				switch signal {
				case "logs":
					body, err = (&plog.ProtoMarshaler{}).MarshalLogs(l.logs(w, i, base, rng))
				default:
					body, err = (&pmetric.ProtoMarshaler{}).MarshalMetrics(l.metrics(w, i, seriesPerWorker, base))
				}
				if err != nil {
					errs <- err
					return
				}
				if err := l.post(ctx, client, "/v1/"+signal, body); err != nil {
					errs <- err
					return
				}
				sent.Add(int64(l.batch))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return sent.Load(), err
	}
	return sent.Load(), nil
}

// post sends one request until it is acknowledged (200), backing off on 429 and 5xx (a memory
// limiter's refusal) and on transport errors, for at most a minute.
func (l load) post(ctx context.Context, client *http.Client, path string, body []byte) error {
	backoff := 10 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+l.token)
		resp, err := client.Do(req)
		status := 0
		var msg []byte
		if err == nil {
			msg, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			status = resp.StatusCode
			if status == http.StatusOK {
				return nil
			}
			if status/100 == 4 && status != http.StatusTooManyRequests {
				return fmt.Errorf("%s answered %d: %s", path, status, msg)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not acknowledged within a minute (last: %d %s %v)", path, status, msg, err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
}

// identity sets the resource attributes of pod p of worker w: the identity that vigil turns into
// Loki labels and structured metadata and Prometheus labels.
func identity(attrs pcommon.Map, w, p int) {
	attrs.PutStr("k8s.cluster.name", "bench")
	attrs.PutStr("k8s.namespace.name", fmt.Sprintf("shop-%d", w%2))
	attrs.PutStr("k8s.deployment.name", fmt.Sprintf("checkout-%d", w))
	attrs.PutStr("k8s.pod.name", fmt.Sprintf("checkout-%d-7d9f8c6b5-%05d", w, p))
	attrs.PutStr("k8s.node.name", fmt.Sprintf("node-%d", p%3))
	attrs.PutStr("k8s.container.name", "app")
	attrs.PutStr("service.name", "checkout")
	attrs.PutStr("service.instance.id", fmt.Sprintf("checkout-%d-%d", w, p))
}

// logs is request i of worker w: batch ~300-byte access-log records of one pod, each with its
// own time (1µs apart in the worker), line (a sequence number), trace and span id, and three
// attributes.
func (l load) logs(w, i int, base time.Time, rng *rand.Rand) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	identity(rl.Resource().Attributes(), w, i%podsPerWorker)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.EnsureCapacity(l.batch)
	statuses := []int64{200, 200, 200, 201, 204, 304, 404, 500}
	for j := range l.batch {
		seq := i*l.batch + j
		lr := lrs.AppendEmpty()
		ts := base.Add(time.Duration(seq) * time.Microsecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		for k := range tid {
			tid[k] = byte(rng.Uint32())
		}
		for k := range sid {
			sid[k] = byte(rng.Uint32())
		}
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
		status := statuses[rng.IntN(len(statuses))]
		lr.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%08d?expand=items,customer HTTP/1.1 %d %d bytes in %.1fms user=svc-checkout-%d worker=%d seq=%d",
			rng.IntN(1e8), status, 200+rng.IntN(20000), 0.5+rng.Float64()*200, rng.IntN(5000), w, seq))
		a := lr.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", status)
		a.PutStr("service.component", "checkout")
	}
	return ld
}

// metrics is request i of worker w: batch samples, half gauges and half monotonic cumulative
// counters, of a contiguous chunk of the worker's seriesPerWorker series (10 metric names ×
// a "series" attribute); one pod per chunk. A series' samples are 1 ms apart, one step per pass
// over the worker's series.
func (l load) metrics(w, i, seriesPerWorker int, base time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	chunks := max(seriesPerWorker/l.batch, 1)
	chunk, step := i%chunks, i/chunks
	rm := md.ResourceMetrics().AppendEmpty()
	identity(rm.Resource().Attributes(), w, chunk%podsPerWorker)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	const names = 10
	ts := pcommon.NewTimestampFromTime(base.Add(time.Duration(step) * time.Millisecond))
	start := pcommon.NewTimestampFromTime(base.Add(-time.Hour))
	per := l.batch / names
	for n := range names {
		m := ms.AppendEmpty()
		var dps pmetric.NumberDataPointSlice
		if n%2 == 0 {
			m.SetName(fmt.Sprintf("%s_queue_depth_%d", l.prefix, n))
			dps = m.SetEmptyGauge().DataPoints()
		} else {
			m.SetName(fmt.Sprintf("%s_requests_%d", l.prefix, n))
			s := m.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = s.DataPoints()
		}
		count := per
		if n == names-1 {
			count = l.batch - per*(names-1)
		}
		dps.EnsureCapacity(count)
		for k := range count {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetStartTimestamp(start)
			id := chunk*l.batch + n*per + k
			dp.Attributes().PutStr("series", fmt.Sprintf("s%06d", id))
			dp.Attributes().PutStr("route", fmt.Sprintf("/api/v1/r%d", id%20))
			if n%2 == 0 {
				dp.SetDoubleValue(float64(id%97) + float64(step)*0.5)
			} else {
				dp.SetDoubleValue(float64(step*10 + id%7))
			}
		}
	}
	return md
}
