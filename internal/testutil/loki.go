package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Loki is a real Loki server (built from tools/loki) on 127.0.0.1: single binary, filesystem
// storage, in-memory ring.
type Loki struct {
	URL  string
	Proc *Process
}

// LokiInstallHint says how to get the loki binary.
const LokiInstallHint = "cd tools/loki && go build -o $(go env GOPATH)/bin/loki github.com/grafana/loki/v3/cmd/loki (about 8 minutes cold)"

// LokiOptions change how StartLokiWith runs Loki.
type LokiOptions struct {
	HTTPAddr           string // 127.0.0.1:port to listen on (default: a free port)
	Dir                string // data directory (default: a temporary one); reuse it to restart a Loki
	AuthEnabled        bool   // multi-tenant: pushes and queries need X-Scope-OrgID
	StructuredMetadata bool   // accept structured metadata
}

// StartLoki runs Loki. It skips (fails in CI) when the binary is absent.
func StartLoki(t testing.TB) *Loki { t.Helper(); return StartLokiWith(t, LokiOptions{}) }

// StartLokiWith runs Loki with opts. It skips (fails in CI) when the binary is absent.
func StartLokiWith(t testing.TB, opts LokiOptions) *Loki {
	t.Helper()
	bin := RequireBinary(t, "loki", LokiInstallHint)
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	httpAddr, grpcAddr := opts.HTTPAddr, FreeAddr(t)
	if httpAddr == "" {
		httpAddr = FreeAddr(t)
	}
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	_, grpcPort, _ := net.SplitHostPort(grpcAddr)
	cfg := fmt.Sprintf(`auth_enabled: %[4]t
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %[1]s
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %[2]s
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
  max_entries_limit_per_query: 10000
  allow_structured_metadata: %[5]t
  discover_service_name: [] # no service_name label: series keep the labels pushed
query_range:
  results_cache:
    cache:
      embedded_cache: {enabled: false}
  cache_results: false
  cache_index_stats_results: false
  cache_volume_results: false
  parallelise_shardable_queries: false # shards are planned from index stats, which lag the ingester
analytics:
  reporting_enabled: false
`, httpPort, grpcPort, dir, opts.AuthEnabled, opts.StructuredMetadata)
	path := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &Loki{URL: "http://" + httpAddr}
	l.Proc = Start(t, "loki", nil, bin, "-config.file="+path)
	WaitHTTP(t, l.URL+"/ready", 90*time.Second, l.Proc)
	return l
}

// LokiStream is one stream of a push: its labels and its lines with their times.
type LokiStream struct {
	Labels map[string]string
	Times  []time.Time
	Lines  []string
}

// Push sends streams with Loki's JSON push API.
func (l *Loki) Push(streams []LokiStream) error {
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	var body struct {
		Streams []stream `json:"streams"`
	}
	for _, s := range streams {
		st := stream{Stream: s.Labels}
		for i, line := range s.Lines {
			st.Values = append(st.Values, [2]string{fmt.Sprint(s.Times[i].UnixNano()), line})
		}
		body.Streams = append(body.Streams, st)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(l.URL+"/loki/api/v1/push", "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		return fmt.Errorf("loki push: %s: %s", resp.Status, msg.String())
	}
	return nil
}
