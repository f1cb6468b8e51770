package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian package "prometheus") on 127.0.0.1.
type Prometheus struct {
	URL  string
	Proc *Process
}

// StartPrometheus runs Prometheus scraping the given host:port targets every second under job
// name job. It skips (fails in CI) when Prometheus is not installed.
func StartPrometheus(t testing.TB, job string, targets ...string) *Prometheus {
	t.Helper()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	return StartPrometheusWithScrapeConfigs(t, fmt.Sprintf("  - job_name: %q\n    static_configs:\n      - targets: [%s]\n",
		job, strings.Join(quoted, ", ")))
}

// StartPrometheusWithScrapeConfigs runs Prometheus with the scrape_configs entries given as YAML
// (list items indented by two spaces), scraping every second. It skips (fails in CI) when
// Prometheus is not installed.
func StartPrometheusWithScrapeConfigs(t testing.TB, scrapeConfigs string) *Prometheus {
	t.Helper()
	bin := RequireBinary(t, "prometheus", "apt-get install -y prometheus (Debian package, Prometheus 2.42)", "/usr/bin/prometheus")
	dir := t.TempDir()
	cfg := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n" + scrapeConfigs
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	p := &Prometheus{URL: "http://" + addr}
	p.Proc = Start(t, "prometheus", nil, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr,
		"--web.enable-remote-write-receiver",
		"--enable-feature=exemplar-storage",
		"--log.level=warn")
	WaitHTTP(t, p.URL+"/-/ready", 30*time.Second, p.Proc)
	return p
}

// Query runs an instant PromQL query and returns the sum of the values of the resulting vector.
// It returns an error when the result is empty.
func (p *Prometheus) Query(q string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query="+url.QueryEscape(q), http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("cannot decode Prometheus answer to %q: %w", q, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", q, body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, fmt.Errorf("query %q: empty result", q)
	}
	var sum float64
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("query %q: bad value %q", q, s)
		}
		sum += v
	}
	return sum, nil
}
