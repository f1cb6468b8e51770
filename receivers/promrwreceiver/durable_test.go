package promrwreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/exporters/promrwexporter"
	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/wal"
)

// startWith runs a receiver on a free port in front of next, and returns its URL and a stop.
func startWith(t *testing.T, next consumer.Metrics) (string, func()) {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	cfg.Cluster = "prod-eu-1"
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(Type), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	stop := func() { _ = r.Shutdown(context.Background()) }
	t.Cleanup(stop)
	return "http://" + cfg.NetAddr.Endpoint + "/api/v1/write", stop
}

// TestAnswersAfterTheWritesAreDurable: the receiver answers only once the durability waits that
// the pipeline left on the request (walstorage's group commit) are done, and 503 with
// Retry-After when one fails.
func TestAnswersAfterTheWritesAreDurable(t *testing.T) {
	release := make(chan struct{})
	var fail error
	next, _ := consumer.NewMetrics(func(ctx context.Context, _ pmetric.Metrics) error {
		d := wal.DeferredFrom(ctx)
		if d == nil {
			return errors.New("the request carries no wal.Deferred")
		}
		err := fail
		d.AddWait(func(context.Context) error { <-release; return err })
		return nil
	})
	url, _ := startWith(t, next)
	body := encode(t, mkSeries("up", "job", "j"))

	answered := make(chan int, 1)
	go func() {
		code, _ := post(t, url, body)
		answered <- code
	}()
	select {
	case code := <-answered:
		t.Fatalf("answered %d before the batch was durable", code)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if code := <-answered; code != http.StatusNoContent {
		t.Fatalf("answered %d once durable, want 204", code)
	}

	fail = errors.New("the durable queue cannot write: no space left on device")
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Encoding", "snappy")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("a failed fsync answered %d Retry-After %q, want 503 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// walExporter is the promrw exporter with its sending queue on walstorage in dir.
func walExporter(t *testing.T, dir, endpoint string) (exporter.Metrics, func()) {
	t.Helper()
	ws := walstoragetest.Start(t, dir)
	id := component.NewID(walstorageextension.Type)
	f := promrwexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*promrwexporter.Config)
	cfg.Endpoint = endpoint
	cfg.RetryConfig.InitialInterval, cfg.RetryConfig.MaxInterval = 100*time.Millisecond, 500*time.Millisecond
	cfg.QueueConfig.Get().StorageID = &id
	set := exportertest.NewNopSettings(f.Type())
	set.ID = component.NewID(f.Type()) // the queue's keys are under the exporter's ID
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})); err != nil {
		t.Fatal(err)
	}
	done := false
	stop := func() {
		if !done {
			done = true
			_ = exp.Shutdown(context.Background())
			_ = ws.Shutdown(context.Background())
		}
	}
	t.Cleanup(stop)
	return exp, stop
}

// TestAcknowledgedSurvivesRestart: remote-write requests answered 204 while the destination is
// down are on disk: after the receiver, exporter and walstorage stop and the exporter and
// walstorage start again on the same directory, every sample reaches a real Prometheus.
func TestAcknowledgedSurvivesRestart(t *testing.T) {
	testutil.RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	dir := t.TempDir()
	exp, stopExp := walExporter(t, dir, "http://"+testutil.FreeAddr(t)+"/api/v1/write")
	url, stopRecv := startWith(t, exp)
	const n = 25
	ts := time.Now().Add(-time.Minute).UnixMilli()
	for i := range n {
		s := mkSeries("rw_durable_total", "job", "j", "instance", fmt.Sprintf("i-%d", i))
		s.Samples = []prompb.Sample{{Timestamp: ts, Value: float64(i + 1)}, {Timestamp: ts + 1000, Value: float64(i + 2)}}
		if code, msg := post(t, url, encode(t, s)); code != http.StatusNoContent {
			t.Fatalf("request %d: %d %s", i, code, msg)
		}
	}
	stopRecv()
	stopExp()

	prom := testutil.StartPrometheus(t, "none")
	walExporter(t, dir, prom.URL+"/api/v1/write")
	testutil.Eventually(t, 30*time.Second, func() error {
		for q, want := range map[string]float64{
			`count(count_over_time(rw_durable_total{cluster="prod-eu-1"}[10m]))`: n,
			`sum(count_over_time(rw_durable_total{cluster="prod-eu-1"}[10m]))`:   2 * n,
		} {
			got, err := prom.Query(q)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s = %v, want %v", q, got, want)
			}
		}
		return nil
	})
}
