package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-obs/vigil/benchmarks/internal/harness"
)

// backend is a real Loki or Prometheus started by the harness.
type backend struct {
	url  string
	proc *proc
}

// startLoki runs Loki (single binary, filesystem storage, in-memory ring) with multi-tenancy on,
// so that every run pushes to a tenant of its own and is counted alone, and with ingestion
// limits high enough that the load is never rate-limited (the figures are the collectors', not
// Loki's limits).
func startLoki(bin, dir string) (*backend, error) {
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	grpcAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	_, grpcPort, _ := net.SplitHostPort(grpcAddr)
	cfg := fmt.Sprintf(`auth_enabled: true
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %[1]s
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %[2]s
  grpc_server_max_recv_msg_size: 104857600
  http_server_read_timeout: 10m
  http_server_write_timeout: 10m
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: %[3]s
  replication_factor: 1
  storage:
    filesystem:
      chunks_directory: %[3]s/chunks
      rules_directory: %[3]s/rules
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index: {prefix: index_, period: 24h}
limits_config:
  reject_old_samples: false
  allow_structured_metadata: true
  ingestion_rate_mb: 4096
  ingestion_burst_size_mb: 8192
  per_stream_rate_limit: 4096MB
  per_stream_rate_limit_burst: 8192MB
  max_global_streams_per_user: 100000
  max_query_series: 100000
  query_timeout: 10m
query_range:
  results_cache:
    cache:
      embedded_cache: {enabled: false}
  cache_results: false
  cache_index_stats_results: false
  cache_volume_results: false
  parallelise_shardable_queries: false
analytics:
  reporting_enabled: false
`, httpPort, grpcPort, dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc("loki", dir, nil, bin, "-config.file="+path)
	if err != nil {
		return nil, err
	}
	b := &backend{url: "http://" + httpAddr, proc: p}
	if err := waitHTTP(b.url+"/ready", 120*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("loki: %w; see %s", err, p.logFile.Name())
	}
	return b, nil
}

// startPrometheus runs Prometheus with its remote-write receiver and an out-of-order window, so
// that samples that the collectors' concurrent senders deliver out of order are all kept.
func startPrometheus(bin, dir string) (*backend, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	cfg := "global: {scrape_interval: 1m, evaluation_interval: 1m}\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n"
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc("prometheus", dir, nil, bin, "--config.file="+path,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+addr,
		"--web.enable-remote-write-receiver", "--log.level=warn")
	if err != nil {
		return nil, err
	}
	b := &backend{url: "http://" + addr, proc: p}
	if err := waitHTTP(b.url+"/-/ready", 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("prometheus: %w; see %s", err, p.logFile.Name())
	}
	return b, nil
}

func waitHTTP(u string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", u, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// count runs an instant query (path /loki/api/v1/query or /api/v1/query) for a single-number
// answer; tenant sets X-Scope-OrgID. An empty result is 0.
func (b *backend) count(path, query, tenant string, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	u := fmt.Sprintf("%s%s?query=%s&time=%d", b.url, path, url.QueryEscape(query), time.Now().Unix())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
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
		return 0, fmt.Errorf("cannot decode the answer to %q: %s: %w", query, resp.Status, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %q: %s %s", query, resp.Status, body.Error)
	}
	var sum int64
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("query %q: bad value %q", query, s)
		}
		sum += int64(v)
	}
	return sum, nil
}

// linesReceived is Loki's count of the lines its distributor took for tenant
// (loki_distributor_lines_received_total), and of those it discarded
// (loki_discarded_samples_total): cheap to read while a run is going, where a LogQL count over a
// million lines takes long on a loaded machine.
func (b *backend) linesReceived(tenant string) (received, discarded int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/metrics", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	want := `tenant="` + tenant + `"`
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, want) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "loki_distributor_lines_received_total{"):
			received += int64(v)
		case strings.HasPrefix(line, "loki_discarded_samples_total{"):
			discarded += int64(v)
		}
	}
	return received, discarded, sc.Err()
}
