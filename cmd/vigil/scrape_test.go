package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// appTarget is an application's /metrics endpoint served by client_golang on 127.0.0.1; while
// down it answers 503, as a failing exporter does.
type appTarget struct {
	queue  prometheus.Gauge
	errors prometheus.Counter
	down   atomic.Bool
	srv    *httptest.Server
}

func startAppTarget(t *testing.T) *appTarget {
	t.Helper()
	reg := prometheus.NewRegistry()
	a := &appTarget{
		queue:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_queue_depth", Help: "Jobs waiting."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "app_errors_total", Help: "Errors."}),
	}
	reg.MustRegister(a.queue, a.errors)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.down.Load() {
			http.Error(w, "exporter failing", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *appTarget) instance() string { return strings.TrimPrefix(a.srv.URL, "http://") }

func writeRules(t *testing.T, rules string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(p, []byte(rules), 0o600))
	return p
}

// activeAlerts returns Alertmanager's active alerts named name.
func activeAlerts(am *testutil.Alertmanager, name string) ([]testutil.AlertmanagerAlert, error) {
	all, err := am.Alerts()
	if err != nil {
		return nil, err
	}
	var out []testutil.AlertmanagerAlert
	for _, a := range all {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out, nil
}

// waitAlerts waits until Alertmanager holds n alerts named name, and returns them.
func waitAlerts(t *testing.T, am *testutil.Alertmanager, name string, n int) []testutil.AlertmanagerAlert {
	t.Helper()
	var got []testutil.AlertmanagerAlert
	testutil.Eventually(t, 15*time.Second, func() error {
		var err error
		if got, err = activeAlerts(am, name); err != nil {
			return err
		}
		if len(got) != n {
			return fmt.Errorf("%d %s alerts, want %d", len(got), name, n)
		}
		return nil
	})
	return got
}

// waitScrapes waits until vigil's prometheus receiver has accepted points from n scrapes or more
// (each scrape of appTarget yields 2 metrics and the 5 scrape metrics: at least 7 points).
func waitScrapes(t *testing.T, a *allInOne, n int) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		got, err := testutil.ScrapeSum(a.metricsURL, "otelcol_receiver_accepted_metric_points_total", `receiver="prometheus"`)
		if err != nil {
			return err
		}
		if got < float64(7*n) {
			return fmt.Errorf("%v points accepted from scrapes", got)
		}
		return nil
	})
}

// TestScrapeEndToEnd: the all-in-one vigil binary, given --scrape, --rules and --alertmanager,
// scrapes a client_golang /metrics endpoint with the contrib prometheus receiver; an alert on the
// scraped gauge reaches a real Alertmanager with the target's job and instance and resolves when
// the gauge drops; a rule on the counter, by its Prometheus name with _total, fires too.
func TestScrapeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the vigil binary and Alertmanager; skipped with -short")
	}
	am := testutil.StartAlertmanager(t)
	app := startAppTarget(t)
	app.queue.Set(3)
	rules := writeRules(t, `groups:
  - name: app
    rules:
      - alert: QueueDeep
        expr: app_queue_depth > 10
        annotations:
          summary: "{{ $labels.instance }} has {{ $value }} jobs waiting"
      - alert: ErrorsCounted
        expr: app_errors_total > 2
`)
	a := startAllInOne(t, "--rules", rules, "--alertmanager", am.URL,
		"--scrape", "app="+app.srv.URL+"/metrics", "--scrape-interval=500ms")
	require.Regexp(t, `\n  scrape app +`+regexp.QuoteMeta(app.srv.URL+"/metrics")+`\n`, a.proc.Output(), "the banner says what is scraped")
	waitScrapes(t, a, 3)
	alerts, err := am.Alerts()
	require.NoError(t, err)
	require.Empty(t, alerts, "a queue of 3 and no errors fire nothing")

	app.queue.Set(42)
	fired := waitAlerts(t, am, "QueueDeep", 1)[0]
	require.Equal(t, "app", fired.Labels["job"])
	require.Equal(t, app.instance(), fired.Labels["instance"])
	require.Equal(t, app.instance()+" has 42 jobs waiting", fired.Annotations["summary"])

	app.queue.Set(1)
	waitAlerts(t, am, "QueueDeep", 0)

	app.errors.Add(3)
	fired = waitAlerts(t, am, "ErrorsCounted", 1)[0]
	require.Equal(t, app.instance(), fired.Labels["instance"])
}

// TestScrapeTargetDownFires: a target that stops answering makes up{job=...} 0 and fires a rule
// on it; the alert resolves when the target answers again.
func TestScrapeTargetDownFires(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the vigil binary and Alertmanager; skipped with -short")
	}
	am := testutil.StartAlertmanager(t)
	app := startAppTarget(t)
	rules := writeRules(t, `groups:
  - name: targets
    rules:
      - alert: TargetDown
        expr: up{job="app"} == 0
`)
	a := startAllInOne(t, "--rules", rules, "--alertmanager", am.URL,
		"--scrape", "app="+app.srv.URL+"/metrics", "--scrape-interval=500ms")
	waitScrapes(t, a, 2)
	alerts, err := activeAlerts(am, "TargetDown")
	require.NoError(t, err)
	require.Empty(t, alerts, "the target is up")

	app.down.Store(true)
	fired := waitAlerts(t, am, "TargetDown", 1)[0]
	// The scrape's job and instance, and the cluster that k8senrich stamps as on OTLP metrics.
	require.Equal(t, map[string]string{"alertname": "TargetDown", "job": "app", "instance": app.instance(), "k8s_cluster_name": "local"},
		fired.Labels)

	app.down.Store(false)
	waitAlerts(t, am, "TargetDown", 0)
}

func TestScrapeFlagsBecomeSets(t *testing.T) {
	jobs := filepath.Join(t.TempDir(), "jobs.yaml")
	require.NoError(t, os.WriteFile(jobs, []byte("scrape_configs: []\n"), 0o600))
	pipeline := []string{
		`yaml:service::pipelines::metrics/scrape::receivers: ["prometheus"]`,
		`yaml:service::pipelines::metrics/scrape::processors: ["memory_limiter","k8senrich"]`,
		`yaml:service::pipelines::metrics/scrape::exporters: ["alert"]`,
	}
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"--data-dir", "d"}, nil},
		{[]string{"--scrape", "http://127.0.0.1:9100/metrics", "--scrape=node=https://10.0.0.1/m?module=a+b", "--scrape", "http://127.0.0.1:9101"},
			append([]string{"embedded:allinone.yaml",
				`yaml:receivers::prometheus::discovery_reload_on_startup: true`,
				`yaml:receivers::prometheus::config::global::scrape_interval: "15s"`,
				`yaml:receivers::prometheus::config::scrape_configs: [` +
					`{"job_name":"scrape","static_configs":[` +
					`{"targets":["127.0.0.1:9100"],"labels":{"__metrics_path__":"/metrics","__scheme__":"http"}},` +
					`{"targets":["127.0.0.1:9101"],"labels":{"__metrics_path__":"/metrics","__scheme__":"http"}}]},` +
					`{"job_name":"node","static_configs":[{"targets":["10.0.0.1"],"labels":{"__metrics_path__":"/m","__param_module":"a b","__scheme__":"https"}}]}]`,
			}, pipeline...)},
		{[]string{"--scrape-config", jobs, "--scrape-interval", "1m30s"},
			append([]string{"embedded:allinone.yaml",
				`yaml:receivers::prometheus::discovery_reload_on_startup: true`,
				`yaml:receivers::prometheus::config::global::scrape_interval: "1m30s"`,
				`yaml:receivers::prometheus::config::scrape_config_files: ["` + jobs + `"]`,
			}, pipeline...)},
	}
	for _, tc := range tests {
		got, err := parseRunFlags(t, tc.in...)
		require.NoError(t, err, "%v", tc.in)
		require.Equal(t, tc.want, got, "%v", tc.in)
	}
}

func TestScrapeFlagErrors(t *testing.T) {
	_, err := parseRunFlags(t,
		"--scrape", "127.0.0.1:9100",
		"--scrape=ftp://h/metrics",
		"--scrape", "=http://h/metrics",
		"--scrape", "http://user:pw@h/metrics",
		"--scrape", "http://h/metrics?a=1&a=2",
		"--scrape-interval", "0s",
		"--scrape-config", "/nonexistent/jobs.yaml",
	)
	require.Error(t, err)
	for _, want := range []string{
		`--scrape "127.0.0.1:9100": want an http:// or https:// URL such as http://127.0.0.1:9100/metrics`,
		`--scrape "ftp://h/metrics": want an http:// or https:// URL`,
		`--scrape "=http://h/metrics": the job name before '=' is empty`,
		`--scrape "http://user:xxxxx@h/metrics": credentials in the URL are refused`,
		`--scrape "http://h/metrics?a=1&a=2": query parameter "a" is repeated`,
		`--scrape-interval "0s": want a positive duration such as 15s or 1m`,
		`--scrape-config "/nonexistent/jobs.yaml": no such file`,
	} {
		require.Contains(t, err.Error(), want)
	}
	require.NotContains(t, err.Error(), "pw@", "the password is not repeated")
}

func TestValidateWithScrapeFlags(t *testing.T) {
	roleEnv(t)
	jobs := filepath.Join(t.TempDir(), "jobs.yaml")
	require.NoError(t, os.WriteFile(jobs, []byte("scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['127.0.0.1:9100']}]\n"), 0o600))
	out, err := execute(t, "validate", "--scrape", "http://127.0.0.1:9100/metrics", "--scrape-config", jobs)
	require.NoError(t, err, out)

	out, err = execute(t, "validate", "--scrape", "127.0.0.1:9100")
	require.Error(t, err)
	require.Contains(t, out+err.Error(), `--scrape "127.0.0.1:9100": want an http:// or https:// URL`)

	// Prometheus's own checks of the file, through the receiver's config validation.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n"), 0o600))
	out, err = execute(t, "validate", "--scrape-config", bad)
	require.Error(t, err)
	require.Contains(t, out+err.Error(), "field scrape_intervall not found")
}

// TestAgentScrapeExampleValidates: the commented-out prometheus receiver of agent.yaml, once
// uncommented with the metrics/scrape pipeline as its comment says, is a valid configuration.
func TestAgentScrapeExampleValidates(t *testing.T) {
	roleEnv(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config", "agent.yaml"))
	require.NoError(t, err)
	var out []string
	inExample := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "  # prometheus:") || strings.HasPrefix(line, "    # metrics/scrape:") {
			inExample = true
		}
		if inExample && strings.HasPrefix(strings.TrimLeft(line, " "), "# ") {
			out = append(out, strings.Replace(line, "# ", "", 1))
			continue
		}
		inExample = false
		out = append(out, line)
	}
	cfg := strings.Join(out, "\n")
	require.Contains(t, cfg, "\n  prometheus:\n", "agent.yaml has the example")
	require.Contains(t, cfg, "\n    metrics/scrape:\n      receivers: [prometheus]\n", "agent.yaml has the pipeline")
	p := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	msg, err := execute(t, "validate", "--config", p)
	require.NoError(t, err, msg)
}
