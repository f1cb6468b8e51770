package otlprelayreceiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// sink is the gateway: the collector's own OTLP receiver (gRPC, as the gateway runs it) into
// consumers that record what they take, or fail every export with fail when set.
type sink struct {
	mu      sync.Mutex
	logs    []plog.Logs
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
	fail    error
	calls   int
}

// startSink runs a sink on addr ("" for a free port) and returns it with its address; mutate
// changes its receiver's configuration.
func startSink(t *testing.T, addr string, mutate ...func(*otlpreceiver.Config)) (*sink, string) {
	t.Helper()
	if addr == "" {
		addr = testutil.FreeAddr(t)
	}
	s := &sink{}
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	for _, m := range mutate {
		m(cfg)
	}
	set := receivertest.NewNopSettings(f.Type())
	logsConsumer, _ := consumer.NewLogs(recorder(s, func(ld plog.Logs) { s.logs = append(s.logs, ld) }))
	tracesConsumer, _ := consumer.NewTraces(recorder(s, func(td ptrace.Traces) { s.traces = append(s.traces, td) }))
	metricsConsumer, _ := consumer.NewMetrics(recorder(s, func(md pmetric.Metrics) { s.metrics = append(s.metrics, md) }))
	logs, err := f.CreateLogs(context.Background(), set, cfg, logsConsumer)
	require.NoError(t, err)
	traces, err := f.CreateTraces(context.Background(), set, cfg, tracesConsumer)
	require.NoError(t, err)
	metrics, err := f.CreateMetrics(context.Background(), set, cfg, metricsConsumer)
	require.NoError(t, err)
	for _, c := range []component.Component{logs, traces, metrics} {
		require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	}
	return s, addr
}

// recorder is a consumer function that keeps what it takes, or fails with s.fail when set.
func recorder[T any](s *sink, keep func(T)) func(context.Context, T) error {
	return func(_ context.Context, v T) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if s.fail != nil {
			return s.fail
		}
		keep(v)
		return nil
	}
}

// bodies are the log bodies the sink took, with the resource attributes of each as "k=v,...".
func (s *sink) bodies() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, ld := range s.logs {
		for _, rl := range ld.ResourceLogs().All() {
			res := attrString(rl.Resource().Attributes().AsRaw())
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out[lr.Body().AsString()] = append(out[lr.Body().AsString()], res)
				}
			}
		}
	}
	return out
}

func attrString(m map[string]any) string {
	var b bytes.Buffer
	for _, k := range []string{"k8s.cluster.name", "k8s.node.name", "service.name"} {
		if v, ok := m[k]; ok {
			fmt.Fprintf(&b, "%s=%v,", k, v)
		}
	}
	return b.String()
}

// relayEnv is a started relay with its walstorage.
type relayEnv struct {
	httpAddr, grpcAddr string
	tel                *componenttest.Telemetry
	stop               func()
}

// startRelay runs an otlprelay for logs, traces and metrics forwarding to fwd, its queue in a
// walstorage in dir (max bytes maxBytes, 0: default).
func startRelay(t *testing.T, dir, fwd string, maxBytes int64, mutate ...func(*Config)) *relayEnv {
	t.Helper()
	ws := walstoragetest.Start(t, dir, func(wcfg *walstorageextension.Config) {
		if maxBytes > 0 { // space comes back a segment at a time: small segments
			wcfg.MaxBytes, wcfg.SegmentBytes = maxBytes, maxBytes/8
		}
	})
	env := &relayEnv{httpAddr: testutil.FreeAddr(t), grpcAddr: testutil.FreeAddr(t), tel: componenttest.NewTelemetry()}
	cfg := createDefaultConfig()
	id := component.NewID(walstorageextension.Type)
	cfg.Storage = &id
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = env.grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().NetAddr.Endpoint = env.httpAddr
	cfg.ResourceAttributes = map[string]string{"k8s.cluster.name": "c1", "k8s.node.name": "n1", "unset": ""}
	cfg.Forward.Endpoint = fwd
	cfg.Forward.TLS.Insecure = true
	cfg.Retry = RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond}
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(Type)
	set.ID = component.NewID(Type)
	set.TelemetrySettings = env.tel.NewTelemetrySettings()
	f := NewFactory()
	logs, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	traces, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	metrics, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	host := testutil.Host(map[component.ID]component.Component{id: ws})
	comps := []component.Component{logs, traces, metrics}
	for _, c := range comps {
		require.NoError(t, c.Start(context.Background(), host))
	}
	var once sync.Once
	env.stop = func() {
		once.Do(func() {
			for _, c := range comps {
				require.NoError(t, c.Shutdown(context.Background()))
			}
			require.NoError(t, ws.Shutdown(context.Background()))
			require.NoError(t, env.tel.Shutdown(context.Background()))
		})
	}
	t.Cleanup(env.stop)
	return env
}

// gauge is the value of the gauge name for signal (int or float gauges).
func (e *relayEnv) gauge(t *testing.T, name, signal string) float64 {
	t.Helper()
	m, err := e.tel.GetMetric(name)
	require.NoError(t, err)
	is := func(s attribute.Set) bool { v, _ := s.Value("signal"); return v.AsString() == signal }
	switch g := m.Data.(type) {
	case metricdata.Gauge[int64]:
		for _, dp := range g.DataPoints {
			if is(dp.Attributes) {
				return float64(dp.Value)
			}
		}
	case metricdata.Gauge[float64]:
		for _, dp := range g.DataPoints {
			if is(dp.Attributes) {
				return dp.Value
			}
		}
	}
	t.Fatalf("%s has no point for signal %s", name, signal)
	return 0
}

func (e *relayEnv) sum(t *testing.T, name string, attrs map[string]string) int64 {
	t.Helper()
	m, err := e.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		match := true
		for k, want := range attrs {
			if v, _ := dp.Attributes.Value(attribute.Key(k)); v.AsString() != want {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

// logsRequest is an OTLP logs request of n records with bodies prefix 0..n-1, from service svc;
// the resource already has a k8s.node.name the relay must replace.
func logsRequest(prefix, svc string, n int) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", svc)
	rl.Resource().Attributes().PutStr("k8s.node.name", "claimed-by-the-app")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("%s %d", prefix, i))
		lr.Attributes().PutInt("i", int64(i))
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func postProto(t *testing.T, url string, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRelayForwardsLogsTracesMetrics: requests over HTTP and gRPC reach the gateway with the
// node identity set on every resource (the client's k8s.node.name replaced, service.name kept),
// and are counted.
func TestRelayForwardsLogsTracesMetrics(t *testing.T) {
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0)

	body, err := logsRequest("http", "checkout", 30).MarshalProto()
	require.NoError(t, err)
	resp := postProto(t, "http://"+env.httpAddr+"/v1/logs", body)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	conn := grpcConn(t, env.grpcAddr)
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest("grpc", "cart", 20))
	require.NoError(t, err)

	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("GET /cart")
	span.SetTraceID([16]byte{1, 2, 3})
	span.SetSpanID([8]byte{4, 5})
	_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)

	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("queue_depth")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(7)
	m.Gauge().DataPoints().AppendEmpty().SetIntValue(8)
	mbody, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/metrics", mbody).StatusCode)

	testutil.Eventually(t, 10*time.Second, func() error {
		got := gw.bodies()
		for i := range 30 {
			if r := got[fmt.Sprintf("http %d", i)]; len(r) != 1 || r[0] != "k8s.cluster.name=c1,k8s.node.name=n1,service.name=checkout," {
				return fmt.Errorf("http %d: %v", i, r)
			}
		}
		for i := range 20 {
			if r := got[fmt.Sprintf("grpc %d", i)]; len(r) != 1 || r[0] != "k8s.cluster.name=c1,k8s.node.name=n1,service.name=cart," {
				return fmt.Errorf("grpc %d: %v", i, r)
			}
		}
		gw.mu.Lock()
		defer gw.mu.Unlock()
		if len(gw.traces) != 1 || len(gw.metrics) != 1 {
			return fmt.Errorf("%d traces and %d metrics requests", len(gw.traces), len(gw.metrics))
		}
		return nil
	})
	gw.mu.Lock()
	res := gw.traces[0].ResourceSpans().At(0)
	name, _ := res.Resource().Attributes().Get("k8s.cluster.name")
	require.Equal(t, "c1", name.Str())
	require.Equal(t, "GET /cart", res.ScopeSpans().At(0).Spans().At(0).Name())
	require.Equal(t, 2, gw.metrics[0].DataPointCount())
	_, unset := gw.metrics[0].ResourceMetrics().At(0).Resource().Attributes().Get("unset")
	require.False(t, unset, "an attribute with an empty value is not set")
	gw.mu.Unlock()

	testutil.Eventually(t, 5*time.Second, func() error {
		for sig, want := range map[string]int64{"logs": 50, "traces": 1, "metrics": 2} {
			if got := env.sum(t, "vigil_otlprelay_received_items", map[string]string{"signal": sig}); got != want {
				return fmt.Errorf("received %s %d, want %d", sig, got, want)
			}
			if got := env.sum(t, "vigil_otlprelay_sent_items", map[string]string{"signal": sig}); got != want {
				return fmt.Errorf("sent %s %d, want %d", sig, got, want)
			}
		}
		return nil
	})
	// The collector's receiver metrics, as the dashboards read them.
	require.Equal(t, int64(30), env.sum(t, "otelcol_receiver_accepted_log_records", map[string]string{"transport": "http"}))
	require.Equal(t, int64(20), env.sum(t, "otelcol_receiver_accepted_log_records", map[string]string{"transport": "grpc"}))
	require.Equal(t, int64(2), env.sum(t, "otelcol_receiver_accepted_metric_points", nil))
}

// TestRelayJSON: OTLP/JSON is accepted, answered in JSON, and forwarded.
func TestRelayJSON(t *testing.T) {
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0)
	body, err := logsRequest("json", "svc", 3).MarshalJSON()
	require.NoError(t, err)
	resp, err := http.Post("http://"+env.httpAddr+"/v1/logs", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.JSONEq(t, "{}", string(got))
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(gw.bodies()); n != 3 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
}

// TestRelayRefusesMalformed: a request the gateway would not decode is refused with 400 /
// INVALID_ARGUMENT naming the problem, counted, and never forwarded; a wrong content type is 415.
func TestRelayRefusesMalformed(t *testing.T) {
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0)

	good, err := logsRequest("x", "svc", 2).MarshalProto()
	require.NoError(t, err)
	bad := good[:len(good)-3] // truncated inside a record
	resp := postProto(t, "http://"+env.httpAddr+"/v1/logs", bad)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	msg, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(msg), "otlp logs request refused")

	var out rawMessage
	err = grpcConn(t, env.grpcAddr).Invoke(context.Background(), "/"+grpcService[0]+"/Export", &rawMessage{b: bad}, &out)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)

	resp, err = http.Post("http://"+env.httpAddr+"/v1/logs", "text/plain", bytes.NewReader(good))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)

	require.Equal(t, int64(2), env.sum(t, "vigil_otlprelay_refused_requests", map[string]string{"reason": reasonMalformed}))
	require.Equal(t, int64(1), env.sum(t, "vigil_otlprelay_refused_requests", map[string]string{"reason": reasonMedia}))
	time.Sleep(200 * time.Millisecond)
	require.Empty(t, gw.bodies())
}

// TestRelayBodyLimit: a body over max_request_body_size is refused with 413 naming the limit
// and the setting; the next request on another connection is taken.
func TestRelayBodyLimit(t *testing.T) {
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0, func(c *Config) { c.Protocols.HTTP.Get().MaxRequestBodySize = 4096 })
	big, err := logsRequest("big", "svc", 300).MarshalProto()
	require.NoError(t, err)
	require.Greater(t, len(big), 4096)
	resp := postProto(t, "http://"+env.httpAddr+"/v1/logs", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	msg, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(msg), "body over 4096 bytes (protocols::http::max_request_body_size)")
	small, err := logsRequest("small", "svc", 2).MarshalProto()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/logs", small).StatusCode)
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(gw.bodies()); n != 2 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
}

// TestRelayHoldsDataWhileGatewayDown: with the gateway down, requests are acknowledged once
// durable; the relay is stopped and started again on the same disk; when the gateway comes up
// every acknowledged record is delivered exactly once, in order of arrival.
func TestRelayHoldsDataWhileGatewayDown(t *testing.T) {
	gwAddr := testutil.FreeAddr(t) // nothing listens yet
	dir := t.TempDir()
	env := startRelay(t, dir, gwAddr, 0)
	conn := grpcConn(t, env.grpcAddr)
	for b := range 5 {
		_, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest(fmt.Sprintf("down-%d", b), "svc", 10))
		require.NoError(t, err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := env.sum(t, "vigil_otlprelay_export_failures", map[string]string{"reason": failRetryable}); n == 0 {
			return fmt.Errorf("no failed export yet")
		}
		return nil
	})
	// The queue gauges show the five requests waiting, by signal.
	require.Equal(t, 5.0, env.gauge(t, "vigil_otlprelay_queue_requests", "logs"))
	require.Zero(t, env.gauge(t, "vigil_otlprelay_queue_requests", "traces"))
	require.Positive(t, env.gauge(t, "vigil_otlprelay_queue_bytes", "logs"))
	require.Positive(t, env.gauge(t, "vigil_otlprelay_oldest_age_seconds", "logs"))
	require.Zero(t, env.gauge(t, "vigil_otlprelay_oldest_age_seconds", "metrics"))
	env.stop()

	gw, _ := startSink(t, gwAddr)
	env = startRelay(t, dir, gwAddr, 0)
	testutil.Eventually(t, 10*time.Second, func() error {
		got := gw.bodies()
		for b := range 5 {
			for i := range 10 {
				if n := len(got[fmt.Sprintf("down-%d %d", b, i)]); n != 1 {
					return fmt.Errorf("down-%d %d delivered %d times", b, i, n)
				}
			}
		}
		return nil
	})
	// The five queued requests went out concatenated, in fewer exports (one zstd stream each).
	require.Less(t, env.sum(t, "vigil_otlprelay_exports", map[string]string{"signal": "logs"}), int64(5))
}

// TestRelayQueueFull: when the durable queue reaches walstorage's max_bytes, clients get 429 with
// Retry-After (HTTP) and RESOURCE_EXHAUSTED (gRPC), counted; once the gateway drains the queue
// requests are accepted again.
func TestRelayQueueFull(t *testing.T) {
	gwAddr := testutil.FreeAddr(t)
	env := startRelay(t, t.TempDir(), gwAddr, 256<<10)
	ld := plog.NewLogs()
	records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 200 { // random text: it does not compress below half its size
		records.AppendEmpty().Body().SetStr(rand.Text() + rand.Text() + rand.Text())
	}
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	var resp *http.Response
	for range 200 {
		resp = postProto(t, "http://"+env.httpAddr+"/v1/logs", body)
		if resp.StatusCode != http.StatusOK {
			break
		}
	}
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	var out rawMessage
	err = grpcConn(t, env.grpcAddr).Invoke(context.Background(), "/"+grpcService[0]+"/Export", &rawMessage{b: body}, &out)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.Equal(t, int64(2), env.sum(t, "vigil_otlprelay_refused_requests", map[string]string{"reason": reasonQueueFull}))

	startSink(t, gwAddr)
	testutil.Eventually(t, 20*time.Second, func() error {
		if r := postProto(t, "http://"+env.httpAddr+"/v1/logs", body); r.StatusCode != http.StatusOK {
			return fmt.Errorf("still %s", r.Status)
		}
		return nil
	})
}

// TestRelayDropsWhatTheGatewayRefusesForGood: an export the gateway refuses as invalid is
// dropped and counted, not retried, and later requests still flow.
func TestRelayDropsWhatTheGatewayRefusesForGood(t *testing.T) {
	gw, gwAddr := startSink(t, "")
	gw.fail = status.Error(codes.InvalidArgument, "no") // 400
	env := startRelay(t, t.TempDir(), gwAddr, 0, func(c *Config) { c.NumSenders = 1 })
	conn := grpcConn(t, env.grpcAddr)
	_, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest("refused", "svc", 4))
	require.NoError(t, err)
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := env.sum(t, "vigil_otlprelay_dropped_items", map[string]string{"reason": failPermanent}); n != 4 {
			return fmt.Errorf("dropped %d", n)
		}
		return nil
	})
	gw.mu.Lock()
	gw.fail = nil
	calls := gw.calls
	gw.mu.Unlock()
	require.Equal(t, 1, calls, "a permanent refusal is not retried")
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest("later", "svc", 2))
	require.NoError(t, err)
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(gw.bodies()); n != 2 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
}

// TestRelayInflightBound: while max_inflight_bytes of requests are being received, further
// requests are refused with 429 / RESOURCE_EXHAUSTED and Retry-After, counted as busy; once the
// first completes, requests are taken again.
func TestRelayInflightBound(t *testing.T) {
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0, func(c *Config) { c.MaxInflightBytes = 4096 })
	slow, err := logsRequest("slow", "svc", 300).MarshalProto()
	require.NoError(t, err)
	require.Greater(t, len(slow), 4096)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, "http://"+env.httpAddr+"/v1/logs", pr)
	require.NoError(t, err)
	req.ContentLength = int64(len(slow))
	req.Header.Set("Content-Type", "application/x-protobuf")
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- nil
			return
		}
		done <- resp
	}()
	_, err = pw.Write(slow[:100]) // the headers and a little of the body: the handler holds its bytes
	require.NoError(t, err)

	small, err := logsRequest("small", "svc", 2).MarshalProto()
	require.NoError(t, err)
	testutil.Eventually(t, 5*time.Second, func() error {
		resp := postProto(t, "http://"+env.httpAddr+"/v1/logs", small)
		if resp.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("got %s while a request holds max_inflight_bytes", resp.Status)
		}
		if resp.Header.Get("Retry-After") == "" {
			return fmt.Errorf("no Retry-After")
		}
		return nil
	})
	var out rawMessage
	err = grpcConn(t, env.grpcAddr).Invoke(context.Background(), "/"+grpcService[0]+"/Export", &rawMessage{b: small}, &out)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.GreaterOrEqual(t, env.sum(t, "vigil_otlprelay_refused_requests", map[string]string{"reason": reasonBusy}), int64(2))

	_, err = pw.Write(slow[100:])
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	resp := <-done
	require.NotNil(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/logs", small).StatusCode)
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(gw.bodies()); n != 302 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
}

// randomLogs is a logs request of n records of random text (about 110 bytes each), which do not
// compress away: sizes the gateway sees are the sizes sent.
func randomLogs(prefix string, n int) []byte {
	ld := plog.NewLogs()
	records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		records.AppendEmpty().Body().SetStr(fmt.Sprintf("%s %d %s%s%s%s", prefix, i, rand.Text(), rand.Text(), rand.Text(), rand.Text()))
	}
	b, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	return b
}

// TestRelayExportOverTheGatewayLimit: queued requests that together exceed the gateway's
// max_recv_msg_size_mib are sent again in halves and all arrive; a single request over it is
// dropped and counted, and does not hold up the others.
func TestRelayExportOverTheGatewayLimit(t *testing.T) {
	gwAddr := testutil.FreeAddr(t)
	dir := t.TempDir()
	env := startRelay(t, dir, gwAddr, 0, func(c *Config) { c.NumSenders = 1 })
	for i := range 6 { // ~330 KB each: about 2 MB queued
		require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/logs", randomLogs(fmt.Sprintf("fits-%d", i), 3000)).StatusCode)
	}
	require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/logs", randomLogs("too-big", 12000)).StatusCode) // ~1.3 MB
	gw, _ := startSink(t, gwAddr, func(c *otlpreceiver.Config) { c.Protocols.GRPC.Get().MaxRecvMsgSizeMiB = 1 })
	testutil.Eventually(t, 20*time.Second, func() error {
		got := gw.bodies()
		for i := range 6 {
			for j := range 3000 {
				key := fmt.Sprintf("fits-%d %d", i, j)
				found := false
				for body := range got {
					if strings.HasPrefix(body, key+" ") {
						found = true
						break
					}
				}
				if !found {
					return fmt.Errorf("%s not delivered (%d records so far)", key, len(got))
				}
			}
		}
		return nil
	})
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := env.sum(t, "vigil_otlprelay_dropped_items", map[string]string{"reason": failPermanent}); n != 12000 {
			return fmt.Errorf("dropped %d, want the 12000 of the request over the limit", n)
		}
		return nil
	})
	for body := range gw.bodies() {
		require.False(t, strings.HasPrefix(body, "too-big "), "the request over the limit cannot arrive")
	}
}
