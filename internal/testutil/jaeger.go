package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Jaeger is a real Jaeger v2 (built from tools/jaeger) on 127.0.0.1: an OTLP/gRPC receiver, in-memory
// trace storage and the query API.
type Jaeger struct {
	OTLPGRPC string // host:port of the OTLP/gRPC receiver
	QueryURL string // base URL of the query API (/api/v3/traces/{id})
	Proc     *Process

	bin, config string
}

// JaegerInstallHint says how to get the jaeger binary.
const JaegerInstallHint = "cd tools/jaeger && go build -o $(go env GOPATH)/bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger"

// StartJaeger runs Jaeger with in-memory storage. It skips (fails in CI) when the binary is absent.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := RequireBinary(t, "jaeger", JaegerInstallHint)
	dir := t.TempDir()
	j := &Jaeger{OTLPGRPC: FreeAddr(t), bin: bin, config: filepath.Join(dir, "jaeger.yaml")}
	queryHTTP, queryGRPC := FreeAddr(t), FreeAddr(t)
	j.QueryURL = "http://" + queryHTTP
	cfg := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory: {max_traces: 100000}
  jaeger_query:
    storage: {traces: memstore}
    enable_tracing: false
    http: {endpoint: %q}
    grpc: {endpoint: %q}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: %q}
exporters:
  jaeger_storage_exporter: {trace_storage: memstore}
`, queryHTTP, queryGRPC, j.OTLPGRPC)
	if err := os.WriteFile(j.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	j.Restart(t)
	return j
}

// Restart starts Jaeger again on the same ports after Stop (its in-memory storage starts empty).
func (j *Jaeger) Restart(t testing.TB) {
	t.Helper()
	j.Proc = Start(t, "jaeger", nil, j.bin, "--config", j.config)
	WaitHTTP(t, j.QueryURL+"/api/services", 60*time.Second, j.Proc)
}

// Stop stops Jaeger (SIGTERM) and waits for its exit.
func (j *Jaeger) Stop(t testing.TB) {
	t.Helper()
	if _, err := j.Proc.Stop(20 * time.Second); err != nil && !j.Proc.Exited() {
		t.Fatalf("cannot stop jaeger: %v", err)
	}
}

// Trace returns what the query API /api/v3/traces/{traceID} answers for a hex trace ID, as OTLP
// traces; found is false when Jaeger answers 404.
func (j *Jaeger) Trace(traceID string) (td ptrace.Traces, found bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+"/api/v3/traces/"+traceID, http.NoBody)
	if err != nil {
		return td, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return td, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return td, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return td, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return td, false, fmt.Errorf("jaeger GET /api/v3/traces/%s: %s: %s", traceID, resp.Status, bytes.TrimSpace(body))
	}
	var wrapper struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &wrapper); err != nil {
		return td, false, fmt.Errorf("cannot decode jaeger's answer: %w: %s", err, body)
	}
	td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(wrapper.Result)
	if err != nil {
		return td, false, fmt.Errorf("cannot decode jaeger's OTLP JSON: %w: %s", err, wrapper.Result)
	}
	return td, true, nil
}
