package promrwexporter

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// durableExporter is a promrw exporter whose sending queue is on a walstorage extension in dir,
// both started; stop shuts both down (exporter first, as the collector does).
func durableExporter(t *testing.T, dir, endpoint string) (exp exporter.Metrics, stop func()) {
	t.Helper()
	ws := walstoragetest.Start(t, dir)
	id := component.NewID(walstorageextension.Type)
	cfg := createDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.RetryConfig.InitialInterval = 100 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 500 * time.Millisecond
	cfg.QueueConfig.Get().StorageID = &id
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	set := exportertest.NewNopSettings(Type)
	set.ID = component.NewID(Type) // as the collector names it: the queue's keys are under the ID
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		if err := exp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := ws.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return exp, stop
}

// TestDurableQueueSurvivesRestart: with sending_queue on walstorage, batches accepted while
// Prometheus is down stay on disk through a restart of the exporter and the extension, and every
// sample arrives once Prometheus is up.
func TestDurableQueueSurvivesRestart(t *testing.T) {
	testutil.RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	dir, addr := t.TempDir(), testutil.FreeAddr(t)
	endpoint := "http://" + addr + "/api/v1/write"
	exp, stop := durableExporter(t, dir, endpoint)
	const n = 30
	start := time.Now().Add(-time.Minute)
	want := 0.0
	for i := range n {
		if err := exp.ConsumeMetrics(context.Background(), batch("prod-eu-1", fmt.Sprintf("pod-%d", i), float64(i+1), start.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
		want += float64(i + 1)
	}
	time.Sleep(500 * time.Millisecond) // sends fail: nobody listens
	stop()

	durableExporter(t, dir, endpoint) // the same disk: it resumes the queue
	base := startPrometheus(t, addr)
	testutil.Eventually(t, 30*time.Second, func() error {
		for q, w := range map[string]float64{
			`count(last_over_time(orders_total{cluster="prod-eu-1"}[5m]))`: n,
			`sum(last_over_time(orders_total{cluster="prod-eu-1"}[5m]))`:   want,
		} {
			v, err := query(base, q)
			if err != nil {
				return err
			}
			if len(v.Data.Result) != 1 || v.Data.Result[0].Value[1] != strconv.FormatFloat(w, 'f', -1, 64) {
				return fmt.Errorf("%s = %+v, want %v", q, v.Data.Result, w)
			}
		}
		return nil
	})
}
