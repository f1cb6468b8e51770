package lokipushreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/flagext"
	"github.com/grafana/loki/pkg/push"
	"github.com/grafana/loki/v3/clients/pkg/promtail/api"
	"github.com/grafana/loki/v3/clients/pkg/promtail/client"
	"github.com/grafana/loki/v3/pkg/logproto"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// start runs a receiver for cluster "edge" (no authentication) in front of sink.
func start(t *testing.T, sink *consumertest.LogsSink, mutate func(*Config)) string {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	cfg.Cluster = "edge"
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return "http://" + cfg.NetAddr.Endpoint + Path
}

// records flattens what sink received: per record its resource attributes and itself.
type record struct {
	res map[string]any
	lr  plog.LogRecord
}

func records(sink *consumertest.LogsSink) []record {
	var out []record
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			lrs := rl.ScopeLogs().At(0).LogRecords()
			for j := 0; j < lrs.Len(); j++ {
				out = append(out, record{rl.Resource().Attributes().AsRaw(), lrs.At(j)})
			}
		}
	}
	return out
}

// TestPromtailClientSendsToVigil uses Loki's own Promtail client (protobuf + snappy).
func TestPromtailClientSendsToVigil(t *testing.T) {
	sink := &consumertest.LogsSink{}
	endpoint := start(t, sink, nil)
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	cfg := client.Config{URL: flagext.URLValue{URL: u}, BatchWait: 50 * time.Millisecond, BatchSize: 1 << 20, Timeout: 5 * time.Second}
	cfg.BackoffConfig.MinBackoff, cfg.BackoffConfig.MaxBackoff, cfg.BackoffConfig.MaxRetries = 10*time.Millisecond, 50*time.Millisecond, 3
	c, err := client.New(client.NewMetrics(prometheus.NewRegistry()), cfg, 0, 0, false, log.NewNopLogger())
	require.NoError(t, err)
	ts := time.Unix(1_700_000_000, 42)
	for i := 0; i < 3; i++ {
		c.Chan() <- api.Entry{
			Labels: model.LabelSet{"namespace": "shop", "workload": "cart", "container": "server", "level": "warn", "job": "promtail"},
			Entry: logproto.Entry{Timestamp: ts.Add(time.Duration(i) * time.Second), Line: fmt.Sprintf("line %d", i),
				StructuredMetadata: push.LabelsAdapter{{Name: "pod", Value: "cart-0"}, {Name: "trace_id", Value: "0102030405060708090a0b0c0d0e0f10"}}},
		}
	}
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 3 }, 10*time.Second, 20*time.Millisecond)
	c.Stop()
	got := records(sink)
	for i, r := range got {
		require.Equal(t, map[string]any{"k8s.cluster.name": "edge", "k8s.namespace.name": "shop", "k8s.workload.name": "cart",
			"k8s.container.name": "server", "job": "promtail"}, r.res)
		require.Equal(t, fmt.Sprintf("line %d", i), r.lr.Body().Str())
		require.Equal(t, ts.Add(time.Duration(i)*time.Second).UnixNano(), r.lr.Timestamp().AsTime().UnixNano())
		require.Equal(t, "warn", r.lr.SeverityText())
		require.Equal(t, plog.SeverityNumberWarn, r.lr.SeverityNumber())
		require.Equal(t, "0102030405060708090a0b0c0d0e0f10", r.lr.TraceID().String())
		require.Equal(t, map[string]any{"k8s.pod.name": "cart-0"}, r.lr.Attributes().AsRaw())
	}
}

// fluentBitBody is what Fluent Bit's loki output sends (JSON, nanosecond timestamps as strings;
// structured metadata as a third element of a value).
const fluentBitBody = `{"streams":[{"stream":{"job":"fluent-bit","namespace":"payments"},"values":[` +
	`["1700000000000000000","{\"log\":\"first\"}"],` +
	`["1700000001000000000","second",{"node":"node-3","span_id":"0102030405060708"}]]}]}`

func post(t *testing.T, endpoint, contentType, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func TestFluentBitJSONPlainAndGzip(t *testing.T) {
	for _, enc := range []string{"", "gzip"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			sink := &consumertest.LogsSink{}
			endpoint := start(t, sink, nil)
			body := []byte(fluentBitBody)
			if enc == "gzip" {
				body = gzipped(body)
			}
			code, msg := post(t, endpoint, "application/json", enc, body)
			require.Equal(t, http.StatusNoContent, code, msg)
			got := records(sink)
			require.Len(t, got, 2)
			require.Equal(t, map[string]any{"k8s.cluster.name": "edge", "k8s.namespace.name": "payments", "job": "fluent-bit"}, got[0].res)
			require.Equal(t, `{"log":"first"}`, got[0].lr.Body().Str())
			require.Equal(t, int64(1700000001), got[1].lr.Timestamp().AsTime().Unix())
			require.Equal(t, "0102030405060708", got[1].lr.SpanID().String())
			require.Equal(t, map[string]any{"k8s.node.name": "node-3"}, got[1].lr.Attributes().AsRaw())
		})
	}
}

func protoBody(t *testing.T, streams ...push.Stream) []byte {
	t.Helper()
	req := push.PushRequest{Streams: streams}
	raw, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, raw)
}

func stream(labels string, lines ...string) push.Stream {
	s := push.Stream{Labels: labels}
	for i, l := range lines {
		s.Entries = append(s.Entries, push.Entry{Timestamp: time.Unix(int64(1000+i), 0), Line: l})
	}
	return s
}

func TestBadInput(t *testing.T) {
	manyLabels := "{"
	for i := 0; i < 16; i++ {
		manyLabels += fmt.Sprintf(`l%02d="v", `, i)
	}
	manyLabels = strings.TrimSuffix(manyLabels, ", ") + "}"
	good := stream(`{job="ok"}`, "kept")
	tests := []struct {
		name, method, contentType string
		body                      []byte
		code                      int
		msg                       string
		kept                      int // records that reach the pipeline
	}{
		{"get", http.MethodGet, "", nil, 405, "POST only", 0},
		{"not snappy", "", "application/x-protobuf", []byte("\xff\xff\xff\xff\xffnot snappy"), 400, "cannot decode snappy body", 0},
		{"not protobuf", "", "application/x-protobuf", snappy.Encode(nil, []byte("\x0a\xff\xff\xff\xff\x0fgarbage")), 400, "cannot decode protobuf PushRequest", 0},
		{"not json", "", "application/json", []byte(`{"streams":[{"stream":`), 400, "cannot decode JSON push request", 0},
		{"json bad timestamp", "", "application/json", []byte(`{"streams":[{"stream":{"a":"b"},"values":[["yesterday","x"]]}]}`), 400, "cannot decode JSON push request", 0},
		{"media type", "", "text/plain", []byte("hello"), 415, "unsupported Content-Type", 0},
		{"body too large", "", "application/json", []byte(`{"streams":[]}` + strings.Repeat(" ", 2048)), 413, "limit of 1024 bytes (max_request_body_size)", 0},
		{"decoded too large", "", "application/x-protobuf", snappy.Encode(nil, make([]byte, 900)), 413, "(max_decoded_bytes)", 0},
		{"too many labels", "", "application/x-protobuf", nil, 400, "more than the limit of 15 (max_labels_per_stream)", 1},
		{"malformed labels", "", "application/x-protobuf", protoBody(t, stream(`{job=`, "x"), good), 400, "cannot parse stream labels", 1},
		{"line too long", "", "application/x-protobuf", protoBody(t, stream(`{job="long"}`, strings.Repeat("x", 300), "short")), 400, "limit of 256 bytes (max_line_bytes)", 1},
		{"another cluster", "", "application/x-protobuf", protoBody(t, stream(`{cluster="other", job="x"}`, "x"), good), 403, `claims cluster "other" but the credentials are those of cluster "edge"`, 1},
	}
	tests[8].body = protoBody(t, stream(manyLabels, "x"), good)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &consumertest.LogsSink{}
			endpoint := start(t, sink, func(c *Config) {
				c.MaxRequestBodySize, c.MaxDecodedBytes, c.MaxLineBytes = 1024, 800, 256
			})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, endpoint, bytes.NewReader(tt.body))
			require.NoError(t, err)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tt.code, resp.StatusCode, string(b))
			require.Contains(t, string(b), tt.msg)
			require.Equal(t, tt.kept, sink.LogRecordCount(), "the valid streams are kept, nothing else")
		})
	}
}

func TestPipelineRefusalIsRetryable(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	cfg.Cluster = "edge"
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, consumertest.NewErr(fmt.Errorf("queue is full")))
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()
	req, _ := http.NewRequest(http.MethodPost, "http://"+cfg.NetAddr.Endpoint+Path, bytes.NewReader(protoBody(t, stream(`{job="x"}`, "a"))))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "Promtail retries 5xx: nothing acknowledged that was not stored")
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.Contains(t, string(b), "queue is full")
}
