package alertexporter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
)

// BenchmarkDetectionLatency measures the time from a sample's arrival (ConsumeMetrics) to the
// Alertmanager POST that carries the alert it fires (no `for`), with the default
// min_eval_interval of 1s; each iteration fires a new alert (a new instance). "idle": the group
// was last evaluated more than min_eval_interval ago (samples every few seconds, as scrapes
// deliver them); "busy": samples arrive back to back, so evaluation waits for min_eval_interval.
// It reports the median and the 99th percentile.
func BenchmarkDetectionLatency(b *testing.B) {
	b.Run("idle", func(b *testing.B) { detectionLatency(b, 1100*time.Millisecond) })
	b.Run("busy", func(b *testing.B) { detectionLatency(b, 0) })
}

func detectionLatency(b *testing.B, pause time.Duration) {
	posted := make(chan string, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []postedAlert
		if err := json.NewDecoder(r.Body).Decode(&batch); err == nil {
			for _, a := range batch {
				if a.EndsAt.After(time.Now()) { // firing, not resolved
					posted <- a.Labels["instance"]
				}
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRulesB(b, lagRules)}
	cfg.Alertmanagers = []string{srv.URL}
	exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(Type), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()

	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		time.Sleep(pause)
		b.StartTimer()
		instance := "db-" + time.Now().Format("150405.000000000")
		start := time.Now()
		if err := exp.ConsumeMetrics(context.Background(), lag(instance, 45+float64(i), start)); err != nil {
			b.Fatal(err)
		}
	wait:
		for {
			select {
			case got := <-posted:
				if got == instance {
					break wait
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("alert of %s not posted", instance)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
