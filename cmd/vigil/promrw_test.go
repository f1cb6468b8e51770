package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// promrwExamples is the documented override that turns remote write in on (out is the role
// configs' promrw exporter, set by VIGIL_PROMRW_URL).
var promrwExamples = []string{"--config", filepath.Join("..", "..", "deploy", "examples", "promrw-in.yaml")}

// TestPromrwExamplesValidate: the example overrides validate on their role config, with remote
// write out set and unset.
func TestPromrwExamplesValidate(t *testing.T) {
	inGateway := filepath.Join("..", "..", "deploy", "examples", "promrw-in-gateway.yaml")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"all-in-one in", append([]string{"--config", "embedded:allinone.yaml"}, promrwExamples...)},
		{"gateway in", []string{"--config", "embedded:gateway.yaml", "--config", inGateway}},
	} {
		for _, url := range []string{"http://127.0.0.1:9090/api/v1/write", ""} {
			t.Run(fmt.Sprintf("%s, out %q", tc.name, url), func(t *testing.T) {
				roleEnv(t)
				t.Setenv("VIGIL_PROMRW_URL", url)
				msg, err := execute(t, append([]string{"validate"}, tc.args...)...)
				require.NoError(t, err, msg)
				require.Equal(t, url == "", strings.Contains(msg, "set VIGIL_PROMRW_URL"), msg)
			})
		}
	}
}

// TestPromrwEndToEnd: a real Prometheus scraping itself remote-writes to the all-in-one vigil
// (deploy/examples/promrw-in.yaml); a rule on the remote-written counter, selected by the alert
// core's identity labels, fires and reaches a real Alertmanager; and the same series leave
// through the promrw exporter (VIGIL_PROMRW_URL) into a second real Prometheus,
// where they carry the identity labels. A third real Prometheus scrapes vigil's /federate (the
// federate exporter, on the API port) and holds the same series.
func TestPromrwEndToEnd(t *testing.T) {
	bin := testutil.RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	am := testutil.StartAlertmanager(t)
	sink := testutil.StartPrometheus(t, "nothing") // the remote-write receiver side, scrapes nothing
	rules := filepath.Join(t.TempDir(), "promrw.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
  - name: remote-written
    rules:
      - alert: PrometheusAppends
        expr: sum by (k8s_cluster_name, job, instance) (rate(prometheus_tsdb_head_samples_appended_total{k8s_cluster_name="e2e-rw"}[20s])) > 0
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.k8s_cluster_name }} appends samples"
`), 0o600))
	rwAddr := testutil.FreeAddr(t)
	t.Setenv("VIGIL_CLUSTER_NAME", "e2e-rw")
	t.Setenv("VIGIL_PROMRW_ENDPOINT", rwAddr)
	t.Setenv("VIGIL_PROMRW_URL", sink.URL+"/api/v1/write")
	vigil := startAllInOne(t, append([]string{"--config", "embedded:allinone.yaml", "--rules", rules, "--alertmanager", am.URL}, promrwExamples...)...)
	central := testutil.StartPrometheusWithScrapeConfigs(t, fmt.Sprintf("  - job_name: federate\n    honor_labels: true\n"+
		"    metrics_path: /federate\n    params: {'match[]': ['{cluster=\"e2e-rw\", job=\"source\"}']}\n"+
		"    static_configs: [{targets: [%q]}]\n", vigil.apiAddr))

	// The source: a real Prometheus scraping itself, remote-writing everything to vigil.
	dir := t.TempDir()
	srcAddr := testutil.FreeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: source\n    static_configs: [{targets: [%q]}]\n"+
		"remote_write:\n  - url: http://%s/api/v1/write\n    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}\n"+
		"    metadata_config: {send_interval: 1s}\n", srcAddr, rwAddr)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.yml"), []byte(cfg), 0o600))
	src := testutil.Start(t, "source prometheus", nil, bin, "--config.file="+filepath.Join(dir, "p.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+srcAddr, "--log.level=warn")
	testutil.WaitHTTP(t, "http://"+srcAddr+"/-/ready", 30*time.Second, src)

	var fired testutil.AlertmanagerAlert
	testutil.Eventually(t, 60*time.Second, func() error {
		alerts, err := am.Alerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "PrometheusAppends" {
				fired = a
				return nil
			}
		}
		return fmt.Errorf("no PrometheusAppends among %d alerts", len(alerts))
	})
	require.Equal(t, "e2e-rw", fired.Labels["k8s_cluster_name"])
	require.Equal(t, "source", fired.Labels["job"])
	require.Equal(t, srcAddr, fired.Labels["instance"])
	require.Equal(t, srcAddr+" of e2e-rw appends samples", fired.Annotations["summary"])

	// Out: the source's series, as the source holds them, plus the cluster label.
	source := &testutil.Prometheus{URL: "http://" + srcAddr}
	for _, match := range []string{`prometheus_build_info{job="source"}`, `prometheus_tsdb_head_samples_appended_total{job="source"}`} {
		testutil.Eventually(t, 30*time.Second, func() error {
			want, err := source.Series(match)
			if err != nil || len(want) == 0 {
				return fmt.Errorf("source has no %s: %v", match, err)
			}
			for i, s := range want {
				ls, err := parser.NewParser(parser.Options{}).ParseMetric(s)
				if err != nil {
					return err
				}
				want[i] = labels.NewBuilder(ls).Set("cluster", "e2e-rw").Labels().String()
			}
			got, err := sink.Series(strings.Replace(match, "{", `{cluster="e2e-rw", `, 1))
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("the second Prometheus has %v, want %v", got, want)
			}
			return nil
		})
	}
	v, err := sink.Query(`prometheus_build_info{cluster="e2e-rw", job="source", instance="` + srcAddr + `"}`)
	require.NoError(t, err)
	require.Equal(t, 1.0, v)

	// Federated: the series the central Prometheus scraped from /federate are those remote write
	// delivered, with the same labels (honor_labels keeps the source's job and instance).
	testutil.Eventually(t, 30*time.Second, func() error {
		want, err := sink.Series(`prometheus_build_info{cluster="e2e-rw"}`)
		if err != nil || len(want) == 0 {
			return fmt.Errorf("the second Prometheus has no prometheus_build_info: %v", err)
		}
		got, err := central.Series(`prometheus_build_info{cluster="e2e-rw"}`)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("the federating Prometheus has %v, want %v", got, want)
		}
		return nil
	})
	q := `count(prometheus_tsdb_head_samples_appended_total{cluster="e2e-rw", job="source"})`
	want, err := sink.Query(q)
	require.NoError(t, err)
	v, err = central.Query(q)
	require.NoError(t, err)
	require.Equal(t, want, v)
	n, err := central.Query(`count({cluster!="e2e-rw", job!="federate"})`)
	require.Error(t, err, "match[] selects only the source's series (got %v)", n)
}
