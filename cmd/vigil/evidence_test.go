package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestAlertCarriesLogEvidenceEndToEnd: an application's logs flow into the all-in-one over OTLP
// (and on to a real Loki through the lokipush exporter); a rule on that pod's metric fires; the
// alert fetched back from a real Alertmanager's API v2 carries the pod's warning-or-worse lines
// (not its info lines, not another pod's) and a Grafana Explore link whose LogQL, run against the
// real Loki over the link's range, returns exactly those lines.
func TestAlertCarriesLogEvidenceEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil, Loki and Alertmanager; skipped with -short")
	}
	loki := testutil.StartLokiWith(t, testutil.LokiOptions{StructuredMetadata: true})
	am := testutil.StartAlertmanager(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "queue.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
  - name: shop
    rules:
      - alert: QueueBacklog
        expr: max by (k8s_cluster_name, k8s_namespace_name, k8s_pod_name) (shop_queue_depth) > 100
`), 0o600))
	override := filepath.Join(dir, "evidence.yaml")
	require.NoError(t, os.WriteFile(override, fmt.Appendf(nil, `
exporters:
  lokipush:
    endpoint: %s
    dead_letter_dir: %s
    sending_queue: {enabled: true, storage: walstorage}
  alert:
    rule_files: [%q]
    alertmanagers: [%q]
    min_eval_interval: 100ms
    resend_delay: 1s
    evidence:
      extension: evidence
      grafana_url: http://grafana.example:3000
      loki_datasource_uid: loki
service:
  pipelines:
    logs:
      exporters: [debug, lokipush]
    metrics:
      exporters: [debug, alert]
`, loki.URL, filepath.Join(dir, "deadletter"), rules, am.URL), 0o600))
	a := startAllInOne(t, "--config", "embedded:allinone.yaml", "--config", override)
	ctx := context.Background()

	// The application's logs: two pods of the shop namespace.
	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(a.httpAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	podRes := func(pod string) *resource.Resource {
		return resource.NewSchemaless(attribute.String("service.name", "checkout"),
			attribute.String("k8s.namespace.name", "shop"), attribute.String("k8s.pod.name", pod))
	}
	emit := func(pod string, lines map[string]otellog.Severity) {
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(podRes(pod)), sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp)))
		logger := lp.Logger("checkout")
		keys := make([]string, 0, len(lines))
		for k := range lines {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, body := range keys {
			var rec otellog.Record
			rec.SetTimestamp(time.Now().Add(time.Duration(i-len(keys)) * time.Millisecond))
			rec.SetSeverity(lines[body])
			rec.SetBody(attribute.StringValue(body))
			logger.Emit(ctx, rec)
		}
		require.NoError(t, lp.ForceFlush(ctx))
	}
	warnings := []string{
		"1 payment provider slow: 2300ms",
		`2 {"level":"error","msg":"order 42 failed","err":"connection reset"}`,
		"3 queue consumer fell behind",
	}
	emit("checkout-7d9f-x2", map[string]otellog.Severity{
		"0 started": otellog.SeverityInfo, warnings[0]: otellog.SeverityWarn,
		warnings[1]: otellog.SeverityError, warnings[2]: otellog.SeverityWarn, "4 heartbeat": otellog.SeverityDebug,
	})
	emit("checkout-7d9f-y7", map[string]otellog.Severity{"another pod's error": otellog.SeverityError})

	// The pod's metric crosses the threshold.
	var depth atomic.Uint64
	depth.Store(math.Float64bits(500))
	mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(a.httpAddr), otlpmetrichttp.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(podRes("checkout-7d9f-x2")),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(200*time.Millisecond))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	_, err = mp.Meter("shop").Float64ObservableGauge("shop.queue.depth", metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(math.Float64frombits(depth.Load()))
		return nil
	}))
	require.NoError(t, err)

	var fired testutil.AlertmanagerAlert
	testutil.Eventually(t, 20*time.Second, func() error {
		alerts, err := am.Alerts()
		if err != nil {
			return err
		}
		for _, al := range alerts {
			if al.Labels["alertname"] == "QueueBacklog" && al.Annotations["vigil_logs"] != "" &&
				strings.Contains(al.Annotations["vigil_logs"], warnings[2]) {
				fired = al
				return nil
			}
		}
		return fmt.Errorf("no QueueBacklog alert with the pod's lines among %d alerts", len(alerts))
	})
	require.Equal(t, "checkout-7d9f-x2", fired.Labels["k8s_pod_name"])
	logs := fired.Annotations["vigil_logs"]
	lines := strings.Split(logs, "\n")
	require.Len(t, lines, 3, logs)
	for i, w := range warnings {
		require.Contains(t, lines[i], "checkout-7d9f-x2", "each line names its pod")
		require.True(t, strings.HasSuffix(lines[i], ": "+w), "line %d %q is the record's body, oldest first", i, lines[i])
	}
	require.NotContains(t, logs, "started", "info lines are not evidence")
	require.NotContains(t, logs, "heartbeat")
	require.NotContains(t, logs, "another pod")

	// The Explore link's LogQL, over the link's range, run against the real Loki.
	u, err := url.Parse(fired.Annotations["vigil_logs_explore_url"])
	require.NoError(t, err, fired.Annotations)
	var panes map[string]struct {
		Queries []struct{ Expr string }
		Range   struct{ From, To string }
	}
	require.NoError(t, json.Unmarshal([]byte(u.Query().Get("panes")), &panes))
	pane := panes["vigil"]
	require.Len(t, pane.Queries, 1)
	from, err := strconv.ParseInt(pane.Range.From, 10, 64)
	require.NoError(t, err)
	to, err := strconv.ParseInt(pane.Range.To, 10, 64)
	require.NoError(t, err)
	var got []string
	testutil.Eventually(t, 30*time.Second, func() error {
		streams, err := lokiRange(loki.URL, pane.Queries[0].Expr, time.UnixMilli(from), time.UnixMilli(to).Add(time.Second))
		if err != nil {
			return err
		}
		got = got[:0]
		for _, st := range streams {
			for _, e := range st.Entries {
				got = append(got, e.Line)
			}
		}
		if len(got) < len(warnings) {
			return fmt.Errorf("%d of %d lines in Loki for %s", len(got), len(warnings), pane.Queries[0].Expr)
		}
		return nil
	})
	slices.Sort(got)
	require.Equal(t, warnings, got, "the link's query returns the alert's lines")
}
