package promrwexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// startPrometheus runs a real Prometheus on addr with the remote-write receiver and exemplar
// storage, and no scrape jobs.
func startPrometheus(t *testing.T, addr string) string {
	t.Helper()
	bin := testutil.RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, "prometheus", nil, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage", "--log.level=warn")
	testutil.WaitHTTP(t, "http://"+addr+"/-/ready", 30*time.Second, p)
	return "http://" + addr
}

func getJSON(u string, out any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

type vector struct {
	Data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func query(base, q string) (vector, error) {
	var v vector
	err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(q), &v)
	return v, err
}

func newTestExporter(t *testing.T, endpoint string) exporter.Metrics {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.RetryConfig.InitialInterval = 100 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 500 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// batch is one resource of pod p of cluster c with a counter of value v at time ts and an
// exemplar, and a data point attribute that claims another cluster (it must not win).
func batch(c, pod string, v float64, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	a := rm.Resource().Attributes()
	a.PutStr("k8s.cluster.name", c)
	a.PutStr("k8s.namespace.name", "shop")
	a.PutStr("k8s.pod.name", pod)
	a.PutStr("k8s.node.name", "node-1")
	a.PutStr("k8s.deployment.name", "checkout")
	a.PutStr("service.name", "checkout")
	a.PutStr("service.instance.id", pod)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("orders")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(v)
	dp.Attributes().PutStr("method", "POST")
	dp.Attributes().PutStr("cluster", "someone-else")
	ex := dp.Exemplars().AppendEmpty()
	ex.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	ex.SetDoubleValue(1)
	ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	return md
}

// TestRealPrometheusReceivesSeries: series remote-written by vigil come back from Prometheus's
// HTTP API with the identity labels, the value and the exemplar.
func TestRealPrometheusReceivesSeries(t *testing.T) {
	base := startPrometheus(t, testutil.FreeAddr(t))
	exp := newTestExporter(t, base+"/api/v1/write")
	now := time.Now()
	if err := exp.ConsumeMetrics(context.Background(), batch("prod-eu-1", "checkout-7d9", 42, now)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"__name__": "orders_total", "cluster": "prod-eu-1", "namespace": "shop", "pod": "checkout-7d9",
		"node": "node-1", "deployment": "checkout", "job": "checkout", "instance": "checkout-7d9", "method": "POST"}
	testutil.Eventually(t, 20*time.Second, func() error {
		v, err := query(base, "orders_total")
		if err != nil {
			return err
		}
		if len(v.Data.Result) != 1 {
			return fmt.Errorf("want 1 series, got %+v", v.Data.Result)
		}
		r := v.Data.Result[0]
		if fmt.Sprint(r.Metric) != fmt.Sprint(want) {
			return fmt.Errorf("labels %v, want %v", r.Metric, want)
		}
		if s, _ := r.Value[1].(string); s != "42" {
			return fmt.Errorf("value %v, want 42", r.Value[1])
		}
		return nil
	})
	var ex struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	q := url.Values{"query": {"orders_total"}, "start": {strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)}}
	testutil.Eventually(t, 10*time.Second, func() error {
		if err := getJSON(base+"/api/v1/query_exemplars?"+q.Encode(), &ex); err != nil {
			return err
		}
		if len(ex.Data) != 1 || len(ex.Data[0].Exemplars) != 1 {
			return fmt.Errorf("exemplars %+v", ex.Data)
		}
		if got := ex.Data[0].Exemplars[0].Labels["trace_id"]; got != "0102030405060708090a0b0c0d0e0f10" {
			return fmt.Errorf("exemplar trace_id %q", got)
		}
		return nil
	})
}

// TestPrometheusDownThenUp: batches accepted while Prometheus is down wait in the queue and all
// arrive once it is up.
func TestPrometheusDownThenUp(t *testing.T) {
	testutil.RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	addr := testutil.FreeAddr(t)
	exp := newTestExporter(t, "http://"+addr+"/api/v1/write")
	const n = 20
	start := time.Now().Add(-time.Minute)
	for i := range n {
		if err := exp.ConsumeMetrics(context.Background(), batch("prod-eu-1", fmt.Sprintf("pod-%d", i), float64(i+1), start.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the backend is down: sends fail and are retried
	base := startPrometheus(t, addr)
	testutil.Eventually(t, 30*time.Second, func() error {
		v, err := query(base, `count(last_over_time(orders_total[5m]))`)
		if err != nil {
			return err
		}
		if len(v.Data.Result) != 1 || v.Data.Result[0].Value[1] != strconv.Itoa(n) {
			return fmt.Errorf("series %+v, want %d", v.Data.Result, n)
		}
		return nil
	})
}
