package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestPrometheusScrapesVigil: a real Prometheus scrapes vigil's own /metrics, and vigil's counters
// advance there after real OTLP traffic from the OpenTelemetry SDK.
func TestPrometheusScrapesVigil(t *testing.T) {
	a := startAllInOne(t)
	target := strings.TrimSuffix(strings.TrimPrefix(a.metricsURL, "http://"), "/metrics")
	prom := testutil.StartPrometheus(t, "vigil", target)

	testutil.Eventually(t, 30*time.Second, func() error {
		up, err := prom.Query(`up{job="vigil"}`)
		if err != nil {
			return err
		}
		if up != 1 {
			return fmt.Errorf("up = %v", up)
		}
		return nil
	})

	const n = 500
	sendSDKLogs(t, a.httpAddr, n, "scraped")

	for _, q := range []string{
		`sum(otelcol_receiver_accepted_log_records_total{job="vigil",receiver="otlp"})`,
		`sum(otelcol_exporter_sent_log_records_total{job="vigil",exporter="debug"})`,
		`sum(otelcol_processor_incoming_items_total{job="vigil",processor="k8senrich",otel_signal="logs"})`,
	} {
		testutil.Eventually(t, 30*time.Second, func() error {
			v, err := prom.Query(q)
			if err != nil {
				return err
			}
			if v < n {
				return fmt.Errorf("%s = %v, want >= %d", q, v, n)
			}
			return nil
		})
	}
}
