package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/trace"
)

// loadTarget is where the generator sends: an OTLP/HTTP endpoint, with TLS and a bearer token
// for the gateway, plaintext for the agent on 127.0.0.1.
type loadTarget struct {
	endpoint string
	tls      *tls.Config
	token    string
}

// generate runs workers, each with its own OpenTelemetry SDK OTLP/HTTP log exporter, exporting
// batches of realistic records for duration. It returns how many records were acknowledged.
func generate(ctx context.Context, target loadTarget, duration time.Duration, workers, batch int) (int64, error) {
	var sent atomic.Int64
	errs := make(chan error, workers)
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		opts := []otlploghttp.Option{otlploghttp.WithEndpoint(target.endpoint),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 30 * time.Second})}
		if target.tls != nil {
			opts = append(opts, otlploghttp.WithTLSClientConfig(target.tls))
		} else {
			opts = append(opts, otlploghttp.WithInsecure())
		}
		if target.token != "" {
			opts = append(opts, otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + target.token}))
		}
		exp, err := otlploghttp.New(context.Background(), opts...)
		if err != nil {
			return 0, err
		}
		records := makeRecords(w, batch, variedLoad)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = exp.Shutdown(context.Background()) }()
			for ctx.Err() == nil {
				// Each request is finished even when the load phase ends during it.
				if err := exp.Export(context.WithoutCancel(ctx), records); err != nil {
					errs <- fmt.Errorf("export: %w", err)
					return
				}
				sent.Add(int64(len(records)))
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

// makeRecords builds one request's worth of ~300-byte application log records. With varied
// false they are alike, as telemetrygen's are (the load): the same line with a counter,
// which compresses very well. With varied true they differ as an access log's do — order ids,
// statuses, sizes, latencies, users — and each carries its own random trace and span id (also in
// the body), so that they compress about 3×, and compression costs what it does on real logs.
func makeRecords(worker, n int, varied bool) []sdklog.Record {
	out := make([]sdklog.Record, n)
	now := time.Now()
	rng := rand.New(rand.NewPCG(uint64(worker), 1))
	statuses := []int{200, 200, 200, 200, 201, 204, 304, 400, 404, 500}
	for i := range out {
		r := &out[i]
		r.SetTimestamp(now)
		r.SetObservedTimestamp(now)
		r.SetSeverity(otellog.SeverityInfo)
		r.SetSeverityText("INFO")
		status := 200
		body := fmt.Sprintf(
			"GET /api/v1/orders/%08d?expand=items,customer HTTP/1.1 200 1532 bytes in 12.4ms user=svc-checkout-%d trace=4bf92f3577b34da6a3ce929d0e0e4736 worker=%d",
			i, i%17, worker)
		if varied {
			var tid trace.TraceID
			var sid trace.SpanID
			for j := range tid {
				tid[j] = byte(rng.Uint32())
			}
			for j := range sid {
				sid[j] = byte(rng.Uint32())
			}
			status = statuses[rng.IntN(len(statuses))]
			r.SetTimestamp(now.Add(time.Duration(rng.IntN(1e9))))
			r.SetTraceID(tid)
			r.SetSpanID(sid)
			body = fmt.Sprintf(
				"GET /api/v1/orders/%08d?expand=items,customer HTTP/1.1 %d %d bytes in %.1fms user=svc-checkout-%d trace=%s worker=%d",
				rng.IntN(1e8), status, 200+rng.IntN(20000), 0.5+rng.Float64()*200, rng.IntN(5000), tid, worker)
		}
		r.SetBody(attribute.StringValue(body))
		r.SetAttributes(
			attribute.String("http.request.method", "GET"),
			attribute.Int("http.response.status_code", status),
			attribute.String("service.component", "checkout"),
		)
	}
	return out
}
