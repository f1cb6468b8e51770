package harness

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tinylib/msgp/msgp"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the gateway exports gzip-compressed

	"github.com/vigil-obs/vigil/internal/testutil"
)

// FLB_* return codes (fluent-bit-go's flb_plugin.h).
const (
	flbError = "0"
	flbOK    = "1"
	flbRetry = "2"
)

// buildPlugin builds out_vigil.so and the C harness into dir. The c-shared build is cached by
// Go's build cache after its first run; it needs cgo and gcc.
func buildPlugin(t *testing.T, dir string) (so, harness string) {
	t.Helper()
	testutil.RequireBinary(t, "gcc", "apt-get install -y gcc libc6-dev (cgo and the C harness)")
	so, harness = filepath.Join(dir, "out_vigil.so"), filepath.Join(dir, "harness")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", so, "./cmd/fluent-bit-vigil")
	build.Dir = testutil.ModuleRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build -buildmode=c-shared ./cmd/fluent-bit-vigil:\n%s", out)
	out, err = exec.Command("gcc", "-Wall", "-o", harness, filepath.Join("testdata", "harness.c"), "-ldl").CombinedOutput()
	require.NoError(t, err, "gcc harness.c:\n%s", out)
	return so, harness
}

// flb is a running harness with the plugin loaded.
type flb struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
}

func startHarness(t *testing.T, harness, so string, props ...string) *flb {
	t.Helper()
	cmd := exec.Command(harness, append([]string{so}, props...)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = testWriter{t}
	require.NoError(t, cmd.Start())
	f := &flb{t: t, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
		close(f.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return f
}

// testWriter passes the plugin's log (stderr) to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("out_vigil: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// line returns the harness's next answer.
func (f *flb) line() string {
	f.t.Helper()
	select {
	case l, ok := <-f.lines:
		require.True(f.t, ok, "the harness exited")
		return l
	case <-time.After(90 * time.Second):
		f.t.Fatal("no answer from the harness within 90s")
		return ""
	}
}

// flush makes the plugin flush the chunk in file and returns the FLB code it answered.
func (f *flb) flush(file, tag string) string {
	f.t.Helper()
	_, err := fmt.Fprintf(f.stdin, "flush %s %s\n", file, tag)
	require.NoError(f.t, err)
	l := f.line()
	require.True(f.t, strings.HasPrefix(l, "flush "), l)
	return strings.TrimPrefix(l, "flush ")
}

// eventTime appends Fluent Bit's event time: msgpack fixext 8 of type 0, seconds and
// nanoseconds as big-endian 32-bit integers.
func eventTime(b []byte, t time.Time) []byte {
	b = append(b, 0xd7, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// event appends one record as Fluent Bit's chunks hold it: [time, record], or with v2 (Fluent
// Bit 2.1 and later) [[time, metadata], record].
func event(t *testing.T, b []byte, v2 bool, ts time.Time, rec map[string]any) []byte {
	t.Helper()
	b = msgp.AppendArrayHeader(b, 2)
	if v2 {
		b = msgp.AppendArrayHeader(b, 2)
		b = eventTime(b, ts)
		b = msgp.AppendMapHeader(b, 0)
	} else {
		b = eventTime(b, ts)
	}
	b, err := msgp.AppendIntf(b, rec)
	require.NoError(t, err)
	return b
}

// containerRecord is a record of Fluent Bit's tail input (cri parser) after its kubernetes filter.
func containerRecord(line, stream, pod string) map[string]any {
	return map[string]any{
		"time": "2026-12-07T05:01:02.123456789Z", "stream": stream, "logtag": "F", "log": line,
		"kubernetes": map[string]any{
			"pod_name": pod, "namespace_name": "shop", "pod_id": "uid-" + pod, "host": "node-7",
			"container_name": "api", "docker_id": "c0ffee" + pod, "container_image": "registry.example/shop/api:1.4.2",
			"labels":      map[string]any{"app": "api", "pod-template-hash": "7d9f8b6c5"},
			"annotations": map[string]any{"prometheus.io/scrape": "true"},
		},
	}
}

func writeChunk(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestPluginLoadedAsFluentBitLoadsIt: out_vigil.so registers as "vigil"; with the gateway down
// a flush answers FLB_RETRY; once the gateway is up, the retried flush answers FLB_OK and every
// record is at the gateway's sink with its identity (cluster from the client certificate and
// token); a chunk of records that are not maps answers FLB_ERROR; a configuration without
// Endpoint fails FLBPluginInit.
func TestPluginLoadedAsFluentBitLoadsIt(t *testing.T) {
	dir := t.TempDir()
	so, harness := buildPlugin(t, dir)

	bad := startHarness(t, harness, so, "TLS=off")
	require.Equal(t, "register 0 type=2 proxy=11 name=vigil", bad.line())
	require.Equal(t, "init 0", bad.line(), "FLBPluginInit without Endpoint answers FLB_ERROR")

	ca := testutil.NewCA(t)
	client := ca.Issue(t, "vigil-agent.cluster-a")
	const token = "token-of-cluster-a-0123456789"
	gwAddr := testutil.FreeAddr(t)
	f := startHarness(t, harness, so, "Endpoint="+gwAddr, "tls.ca_file="+ca.CertFile, "tls.vhost=vigil-gateway",
		"tls.crt_file="+client.CertFile, "tls.key_file="+client.KeyFile, "Bearer_Token="+token, "Timeout=5s", "Compress=gzip")
	require.Equal(t, "register 0 type=2 proxy=11 name=vigil", f.line())
	require.Equal(t, "init 1", f.line())

	now := time.Now().Truncate(time.Microsecond)
	var chunk []byte
	want := map[string]string{} // body -> pod
	for i := range 20 {
		body, pod := fmt.Sprintf("chunk one line %d", i), fmt.Sprintf("api-%d", i%3)
		chunk = event(t, chunk, i%2 == 1, now.Add(time.Duration(i)*time.Millisecond), containerRecord(body, "stdout", pod))
		want[body] = pod
	}
	one := writeChunk(t, dir, "one.msgpack", chunk)

	// The gateway is down: Fluent Bit must keep the chunk.
	require.Equal(t, flbRetry, f.flush(one, "kube.var.log.containers.api"))

	sink, sinkAddr := startSink(t)
	startGateway(t, ca, gwAddr, sinkAddr, token)
	var rc string
	for range 60 { // Fluent Bit's retries, bounded
		if rc = f.flush(one, "kube.var.log.containers.api"); rc != flbRetry {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.Equal(t, flbOK, rc)

	two := writeChunk(t, dir, "two.msgpack", event(t, nil, false, now, containerRecord("E1207 05:01:04.000000 1 sync.go:42] chunk two", "stderr", "api-9")))
	want["E1207 05:01:04.000000 1 sync.go:42] chunk two"] = "api-9"
	require.Equal(t, flbOK, f.flush(two, "kube.var.log.containers.api"))

	testutil.Eventually(t, 30*time.Second, func() error {
		if n := sink.count(); n < len(want) {
			return fmt.Errorf("%d of %d records at the sink", n, len(want))
		}
		return nil
	})
	for body, pod := range want {
		got, ok := sink.get(body)
		require.True(t, ok, body)
		require.Equal(t, map[string]any{
			"k8s.cluster.name": "cluster-a", "k8s.namespace.name": "shop", "k8s.pod.name": pod, "k8s.pod.uid": "uid-" + pod,
			"k8s.container.name": "api", "k8s.node.name": "node-7", "container.image.name": "registry.example/shop/api:1.4.2",
			"container.id": "c0ffee" + pod, "k8s.pod.label.app": "api",
		}, got.resource, body)
		require.Equal(t, "kube.var.log.containers.api", got.attrs["fluent.tag"])
		if strings.HasPrefix(body, "E1207") {
			require.Equal(t, "ERROR", got.severity)
			require.Equal(t, "stderr", got.attrs["log.iostream"])
		} else {
			require.Equal(t, "INFO", got.severity)
			require.Equal(t, "stdout", got.attrs["log.iostream"])
			require.True(t, got.time.After(now.Add(-time.Millisecond)) && got.time.Before(now.Add(time.Second)), "event time %v", got.time)
		}
	}
	require.Equal(t, 1, sink.deliveries("E1207 05:01:04.000000 1 sync.go:42] chunk two"), "a chunk answered FLB_OK is delivered once")
	// A chunk whose records are not maps can never be sent.
	notMaps := msgp.AppendArrayHeader(nil, 2)
	notMaps = msgp.AppendString(eventTime(notMaps, now), "a string, not a map")
	require.Equal(t, flbError, f.flush(writeChunk(t, dir, "bad.msgpack", notMaps), "kube.var.log.containers.api"))

	_, err := fmt.Fprintln(f.stdin, "exit")
	require.NoError(t, err)
	require.Equal(t, "exit 1 1", f.line())
}

// sink is an OTLP/gRPC logs server keeping each record by body.
type sink struct {
	plogotlp.UnimplementedGRPCServer
	mu      sync.Mutex
	records map[string]sunk
	times   map[string]int
}

type sunk struct {
	resource, attrs map[string]any
	severity        string
	time            time.Time
}

func (s *sink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource().Attributes().AsRaw()
		for j := 0; j < rls.At(i).ScopeLogs().Len(); j++ {
			lrs := rls.At(i).ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				body := lr.Body().AsString()
				s.records[body] = sunk{res, lr.Attributes().AsRaw(), lr.SeverityText(), lr.Timestamp().AsTime()}
				s.times[body]++
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

func (s *sink) get(body string) (sunk, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[body]
	return r, ok
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

func (s *sink) deliveries(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[body]
}

func startSink(t *testing.T) (*sink, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	s := &sink{records: map[string]sunk{}, times: map[string]int{}}
	plogotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s, l.Addr().String()
}

// startGateway runs deploy/config/gateway.yaml on grpcAddr with cluster-a (certificate CN
// vigil-agent.cluster-a, bearer token token), its logs exported to sinkAddr.
func startGateway(t *testing.T, ca *testutil.CA, grpcAddr, sinkAddr, token string) {
	t.Helper()
	cert := ca.Issue(t, "vigil-gateway", "vigil-gateway")
	health := testutil.FreeAddr(t)
	override := filepath.Join(t.TempDir(), "clusters.yaml")
	require.NoError(t, os.WriteFile(override, []byte(fmt.Sprintf(`
extensions:
  clusterauth:
    clusters: [{name: cluster-a, subjects: [vigil-agent.cluster-a], bearer_tokens: [%q]}]
exporters:
  otlp_grpc/sink: {endpoint: %s, tls: {insecure: true}}
service:
  pipelines:
    logs: {exporters: [otlp_grpc/sink]}
`, token, sinkAddr)), 0o600))
	p := testutil.Start(t, "gateway", []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + grpcAddr, "VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_AUDIT_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_AUDIT_OTLP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + health, "VIGIL_API_ENDPOINT=" + testutil.FreeAddr(t),
		fmt.Sprintf("VIGIL_METRICS_PORT=%d", testutil.FreePort(t)),
		"VIGIL_TLS_CA_FILE=" + ca.CertFile, "VIGIL_TLS_CERT_FILE=" + cert.CertFile, "VIGIL_TLS_KEY_FILE=" + cert.KeyFile,
	}, testutil.VigilBinary(t), "--config", filepath.Join(testutil.ModuleRoot(t), "deploy", "config", "gateway.yaml"),
		"--config", override, "--data-dir", t.TempDir())
	testutil.WaitHTTP(t, "http://"+health+"/", 30*time.Second, p)
}
