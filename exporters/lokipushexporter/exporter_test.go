package lokipushexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// fakeLoki answers pushes with the statuses of answers, in turn (204 once they run out), and
// records the decoded requests it accepted, by tenant.
type fakeLoki struct {
	mu       sync.Mutex
	answers  []int
	accepted map[string][]push.PushRequest
	seen     int
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	var req push.PushRequest
	if err == nil {
		err = req.Unmarshal(raw)
	}
	if err != nil || r.URL.Path != PushPath || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusUnsupportedMediaType)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	code := http.StatusNoContent
	if f.seen < len(f.answers) {
		code = f.answers[f.seen]
	}
	f.seen++
	if code == http.StatusNoContent {
		f.accepted[r.Header.Get("X-Scope-OrgID")] = append(f.accepted[r.Header.Get("X-Scope-OrgID")], req)
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, http.StatusText(code)+": entry too far behind")
}

func startExporter(t *testing.T, url string, mutate func(*Config)) (*Config, func(plog.Logs) error) {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.ClientConfig.Endpoint = url
	cfg.DeadLetterDir = t.TempDir()
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.QueueConfig.GetOrInsertDefault().WaitForResult = true
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return cfg, func(ld plog.Logs) error { return exp.ConsumeLogs(context.Background(), ld) }
}

func testLogs(clusters ...string) plog.Logs {
	ld := plog.NewLogs()
	for i, c := range clusters {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.cluster.name", c)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr("line from " + c)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(int64(1000+i), 0)))
	}
	return ld
}

func TestRetriesTooManyRequestsAndServerErrors(t *testing.T) {
	f := &fakeLoki{answers: []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}, accepted: map[string][]push.PushRequest{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg, consume := startExporter(t, srv.URL, func(c *Config) { c.Tenants = map[string]string{"a": "team-a"} })
	require.NoError(t, consume(testLogs("a")))
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, 3, f.seen, "429, 503, then accepted")
	require.Len(t, f.accepted["team-a"], 1)
	require.Equal(t, "line from a", f.accepted["team-a"][0].Streams[0].Entries[0].Line)
	entries, _ := os.ReadDir(cfg.DeadLetterDir)
	require.Empty(t, entries, "nothing dead-lettered")
}

func TestRetriesOnlyTheTenantThatFailed(t *testing.T) {
	// Tenants are sent in order: "" (cluster b) first, accepted; then team-a, refused once.
	f := &fakeLoki{answers: []int{http.StatusNoContent, http.StatusInternalServerError}, accepted: map[string][]push.PushRequest{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, consume := startExporter(t, srv.URL, func(c *Config) { c.Tenants = map[string]string{"a": "team-a"} })
	require.NoError(t, consume(testLogs("a", "b")))
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.accepted[""], 1, "the accepted tenant is not sent again")
	require.Len(t, f.accepted["team-a"], 1)
}

func TestClientErrorsAreDeadLettered(t *testing.T) {
	f := &fakeLoki{answers: []int{http.StatusBadRequest}, accepted: map[string][]push.PushRequest{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg, consume := startExporter(t, srv.URL, nil)
	require.NoError(t, consume(testLogs("a")), "a permanent rejection is settled by the dead-letter file")
	f.mu.Lock()
	require.Equal(t, 1, f.seen, "a 400 is not retried")
	f.mu.Unlock()
	files, err := filepath.Glob(filepath.Join(cfg.DeadLetterDir, "loki-*.ndjson"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	fh, err := os.Open(files[0])
	require.NoError(t, err)
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	require.True(t, sc.Scan())
	var rec struct {
		Status  int    `json:"status"`
		Reason  string `json:"reason"`
		Error   string `json:"error"`
		Labels  string `json:"labels"`
		Entries []struct {
			Line string `json:"line"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
	require.Equal(t, 400, rec.Status)
	require.Equal(t, reasonRejected, rec.Reason)
	require.Contains(t, rec.Error, "entry too far behind")
	require.Contains(t, rec.Labels, `cluster="a"`)
	require.Equal(t, "line from a", rec.Entries[0].Line)
	require.False(t, sc.Scan(), "one stream, one line")
}

func TestConfigValidate(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.ClientConfig.Endpoint = "loki:3100"
	cfg.DefaultTenant = "a b"
	cfg.Tenants = map[string]string{"c": ".."}
	err := cfg.Validate()
	require.EqualError(t, err, `endpoint: "loki:3100" is not an http(s) URL
default_tenant: "a b" is not a Loki tenant ID (1-150 of letters, digits and !-_.*'())
tenants["c"]: ".." is not a Loki tenant ID (1-150 of letters, digits and !-_.*'())
dead_letter_dir: must be set (e.g. ${env:VIGIL_DATA_DIR}/deadletter/loki)`)
	require.ErrorContains(t, createDefaultConfig().Validate(), "endpoint: must be set to Loki's base URL")
}
