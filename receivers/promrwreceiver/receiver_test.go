package promrwreceiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func startReceiver(t *testing.T, mutate func(*Config)) (string, *consumertest.MetricsSink) {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	cfg.Cluster = "prod-eu-1"
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sink := &consumertest.MetricsSink{}
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return "http://" + cfg.NetAddr.Endpoint + "/api/v1/write", sink
}

func mkSeries(name string, extra ...string) prompb.TimeSeries {
	ls := []prompb.Label{{Name: "__name__", Value: name}}
	for i := 0; i+1 < len(extra); i += 2 {
		ls = append(ls, prompb.Label{Name: extra[i], Value: extra[i+1]})
	}
	return prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: 1000, Value: 1}}}
}

func encode(t *testing.T, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	raw, err := (&prompb.WriteRequest{Timeseries: ts}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func points(sink *consumertest.MetricsSink) int {
	n := 0
	for _, md := range sink.AllMetrics() {
		n += md.DataPointCount()
	}
	return n
}

// TestBadInput: every bad request gets a 4xx naming the problem, and the good series of a
// request with bad ones are kept.
func TestBadInput(t *testing.T) {
	url, sink := startReceiver(t, func(c *Config) { c.MaxRequestBodySize = 4096; c.MaxLabelsPerSeries = 4 })
	many := mkSeries("m", "a", "1", "b", "2", "c", "3", "d", "4")
	ooo := mkSeries("ooo")
	ooo.Samples = []prompb.Sample{{Timestamp: 2000, Value: 1}, {Timestamp: 1000, Value: 2}, {Timestamp: 3000, Value: 3}}
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	cases := []struct {
		name   string
		body   []byte
		code   int
		msg    string
		points int // data points that reach the pipeline
	}{
		{"not snappy", []byte("hello"), 400, "cannot decompress body", 0},
		{"snappy but not protobuf", snappy.Encode(nil, []byte{0xff, 0xff, 0xff}), 400, "cannot decode body as prometheus.WriteRequest", 0},
		{"oversized body", big, 413, "max_request_body_size", 0},
		{"too many labels", encode(t, many, mkSeries("ok")), 400, "max_labels_per_series", 1},
		{"no metric name", encode(t, prompb.TimeSeries{Labels: []prompb.Label{{Name: "a", Value: "b"}}, Samples: []prompb.Sample{{Value: 1}}}, mkSeries("ok")), 400, "no metric name", 1},
		{"out of order", encode(t, ooo), 400, "out_of_order", 2},
		{"another cluster", encode(t, mkSeries("x", "cluster", "prod-us-1"), mkSeries("ok", "cluster", "prod-eu-1")), 403, `claims cluster "prod-us-1"`, 1},
		{"good", encode(t, mkSeries("ok", "job", "j")), 204, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink.Reset()
			code, msg := post(t, url, tc.body)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", code, msg, tc.code, tc.msg)
			}
			if got := points(sink); got != tc.points {
				t.Fatalf("%d data points reached the pipeline, want %d", got, tc.points)
			}
		})
	}
}

// TestIdentityBecomesResource: identity labels become resource attributes, the cluster is the
// credentials' when the series names none, counters become sums, exemplars are kept.
func TestIdentityBecomesResource(t *testing.T) {
	url, sink := startReceiver(t, nil)
	s := mkSeries("http_requests_total", "job", "api", "instance", "10.0.0.1:80", "namespace", "shop", "pod", "api-1", "code", "200")
	s.Exemplars = []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "0102030405060708090a0b0c0d0e0f10"}}, Value: 1, Timestamp: 1000}}
	if code, msg := post(t, url, encode(t, s)); code != 204 {
		t.Fatalf("%d %s", code, msg)
	}
	all := sink.AllMetrics()
	if len(all) != 1 {
		t.Fatalf("%d batches", len(all))
	}
	rm := all[0].ResourceMetrics().At(0)
	got := rm.Resource().Attributes().AsRaw()
	want := map[string]any{"service.name": "api", "service.instance.id": "10.0.0.1:80", "k8s.namespace.name": "shop", "k8s.pod.name": "api-1", "k8s.cluster.name": "prod-eu-1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resource %v, want %v", got, want)
	}
	m := rm.ScopeMetrics().At(0).Metrics().At(0)
	if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() {
		t.Fatalf("type %v", m.Type())
	}
	dp := m.Sum().DataPoints().At(0)
	if dp.Attributes().AsRaw()["code"] != "200" || dp.Attributes().Len() != 1 || dp.DoubleValue() != 1 {
		t.Fatalf("point %v %v", dp.Attributes().AsRaw(), dp.DoubleValue())
	}
	if dp.Exemplars().Len() != 1 || dp.Exemplars().At(0).TraceID().String() != "0102030405060708090a0b0c0d0e0f10" {
		t.Fatalf("exemplars %d", dp.Exemplars().Len())
	}
}

// TestRealPrometheusRemoteWrites: a real Prometheus scraping itself remote-writes to the
// receiver, and its series arrive with its external cluster label as the cluster.
func TestRealPrometheusRemoteWrites(t *testing.T) {
	bin := testutil.RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	url, sink := startReceiver(t, nil)
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  external_labels: {cluster: prod-eu-1}\n"+
		"scrape_configs:\n  - job_name: self\n    static_configs: [{targets: [%q]}]\n"+
		"remote_write:\n  - url: %s\n    queue_config: {batch_send_deadline: 1s}\n    metadata_config: {send_interval: 1s}\n", addr, url)
	if err := os.WriteFile(filepath.Join(dir, "p.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, "prometheus", nil, bin, "--config.file="+filepath.Join(dir, "p.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+addr, "--log.level=warn")
	testutil.WaitHTTP(t, "http://"+addr+"/-/ready", 30*time.Second, p)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, md := range sink.AllMetrics() {
			for _, rm := range md.ResourceMetrics().All() {
				a := rm.Resource().Attributes().AsRaw()
				if a["service.name"] != "self" || a["k8s.cluster.name"] != "prod-eu-1" {
					continue
				}
				for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
					if m.Name() == "up" && m.Gauge().DataPoints().At(0).DoubleValue() == 1 {
						return nil
					}
				}
			}
		}
		return fmt.Errorf("no up=1 of job self, cluster prod-eu-1 yet (%d batches)", len(sink.AllMetrics()))
	})
}
