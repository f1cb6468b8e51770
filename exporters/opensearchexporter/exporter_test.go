package opensearchexporter

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/opensearchtest"
)

func testConfig(t *testing.T, url string) *Config {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Endpoints = []string{url}
	cfg.DeadLetterDir = t.TempDir()
	cfg.ItemBackoff = time.Millisecond
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	require.NoError(t, cfg.Validate())
	return cfg
}

// startExporter returns a started exporter whose push can be called directly.
func startExporter(t *testing.T, cfg *Config) *osExporter {
	t.Helper()
	e, err := newExporter(exportertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

const eventTmpl = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ID","stage":"ResponseComplete","verb":"get","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","name":"web"},"stageTimestamp":"2026-11-22T10:15:03.131822Z"}`

func auditLogs(ids ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", "prod-eu-1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, id := range ids {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(strings.Replace(eventTmpl, `"ID"`, `"`+id+`"`, 1))
		lr.Attributes().PutStr("k8s.audit.id", id)
		lr.Attributes().PutStr("k8s.audit.stage", "ResponseComplete")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 15, 3, 0, time.UTC)))
	}
	return ld
}

const index = "vigil-audit-2026.11.22"

// docID is the _id of the event id of auditLogs: cluster, auditID, stage and its content's hash.
func docID(id string) string {
	sum := sha256.Sum256([]byte(strings.Replace(eventTmpl, `"ID"`, `"`+id+`"`, 1)))
	return "prod-eu-1:" + id + ":ResponseComplete:" + hex.EncodeToString(sum[:16])
}

func TestInstallsTemplateAndPolicyIdempotently(t *testing.T) {
	srv := opensearchtest.Start(t)
	cfg := testConfig(t, srv.URL)
	startExporter(t, cfg)
	startExporter(t, cfg) // a restart, or a second replica: no error
	require.Contains(t, srv.Templates, "vigil-audit")
	var tmpl map[string]any
	require.NoError(t, json.Unmarshal(srv.Templates["vigil-audit"], &tmpl))
	require.Equal(t, []any{"vigil-audit-*"}, tmpl["index_patterns"])
	props := tmpl["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	require.Equal(t, map[string]any{"type": "keyword"}, props["auditID"])
	require.Equal(t, map[string]any{"type": "ip"}, props["sourceIPs"])
	require.Contains(t, string(srv.Policies["vigil-audit-retention"]), `"min_index_age":"720h"`)
	require.Contains(t, string(srv.Policies["vigil-audit-retention"]), `"delete":{}`)
}

func TestIndexesOncePerEventIdentity(t *testing.T) {
	srv := opensearchtest.Start(t)
	e := startExporter(t, testConfig(t, srv.URL))
	ctx := context.Background()
	require.NoError(t, e.pushLogs(ctx, auditLogs("a", "b", "c")))
	require.NoError(t, e.pushLogs(ctx, auditLogs("a", "b", "c")), "a replay")
	require.Equal(t, 3, srv.Count(), "replays overwrite: _id comes from (cluster, auditID, stage, content)")
	doc := srv.Doc(index, docID("a"))
	require.NotNil(t, doc)
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m))
	require.Equal(t, "2026-11-22T10:15:03Z", m["@timestamp"])
	require.Equal(t, "prod-eu-1", m["cluster"])
	require.Equal(t, "a", m["auditID"])
	require.Equal(t, "alice", m["user"].(map[string]any)["username"], "the event is indexed as sent")
}

func TestRetriesOnlyRejectedItems(t *testing.T) {
	srv := opensearchtest.Start(t)
	var rejectedOnce atomic.Bool
	sent := map[string]int{}
	srv.ItemFault = func(_, id string, _ []byte) (int, string) {
		sent[id]++
		if id == docID("b") && rejectedOnce.CompareAndSwap(false, true) {
			return 429, "es_rejected_execution_exception"
		}
		return 0, ""
	}
	e := startExporter(t, testConfig(t, srv.URL))
	require.NoError(t, e.pushLogs(context.Background(), auditLogs("a", "b", "c")))
	require.Equal(t, 3, srv.Count())
	require.Equal(t, map[string]int{docID("a"): 1, docID("b"): 2, docID("c"): 1}, sent,
		"only the rejected item is sent again")
}

func TestPermanentItemErrorsGoToDeadLetter(t *testing.T) {
	srv := opensearchtest.Start(t)
	srv.ItemFault = func(_, id string, _ []byte) (int, string) {
		if id == docID("bad") {
			return 400, "mapper_parsing_exception"
		}
		return 0, ""
	}
	cfg := testConfig(t, srv.URL)
	e := startExporter(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), auditLogs("a", "bad", "c")), "a permanent item error is not retried")
	require.Equal(t, 2, srv.Count())
	files, err := filepath.Glob(filepath.Join(cfg.DeadLetterDir, "vigil-audit-*.ndjson"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	f, err := os.Open(files[0])
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	require.True(t, sc.Scan())
	var dl struct {
		ID       string         `json:"_id"`
		Status   int            `json:"status"`
		Error    map[string]any `json:"error"`
		Document map[string]any `json:"document"`
	}
	require.NoError(t, json.Unmarshal(sc.Bytes(), &dl))
	require.Equal(t, docID("bad"), dl.ID)
	require.Equal(t, 400, dl.Status)
	require.Equal(t, "mapper_parsing_exception", dl.Error["type"])
	require.Equal(t, "bad", dl.Document["auditID"])
	require.False(t, sc.Scan(), "one dead-lettered document")
}

func TestWholeRequestFailuresAreRetryable(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInternalServerError} {
		srv := opensearchtest.Start(t)
		e := startExporter(t, testConfig(t, srv.URL))
		srv.Mu.Lock()
		srv.RequestFault = func(r *http.Request) int {
			if strings.HasSuffix(r.URL.Path, "_bulk") {
				return status
			}
			return 0
		}
		srv.Mu.Unlock()
		err := e.pushLogs(context.Background(), auditLogs("a"))
		require.Error(t, err)
		require.False(t, consumererror.IsPermanent(err), "status %d must be retried", status)
		require.Contains(t, err.Error(), "retrying later")
		srv.Mu.Lock()
		srv.RequestFault = nil
		srv.Mu.Unlock()
		require.NoError(t, e.pushLogs(context.Background(), auditLogs("a")))
		require.Equal(t, 1, srv.Count())
	}
}

func TestTooLargeBulkIsSplit(t *testing.T) {
	srv := opensearchtest.Start(t)
	srv.MaxContentLength = 1500 // a few documents per request
	e := startExporter(t, testConfig(t, srv.URL))
	ids := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	require.NoError(t, e.pushLogs(context.Background(), auditLogs(ids...)))
	require.Equal(t, 8, srv.Count())
	require.Greater(t, srv.Bulks, 1)
}

func TestClusterBlockHoldsData(t *testing.T) {
	srv := opensearchtest.Start(t)
	cfg := testConfig(t, srv.URL)
	cfg.ItemRetries = 2
	e := startExporter(t, cfg)
	srv.Mu.Lock()
	srv.ReadOnly = true
	srv.Mu.Unlock()
	err := e.pushLogs(context.Background(), auditLogs("a", "b"))
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err), "the queue keeps the data while the block lasts")
	require.Contains(t, err.Error(), "cluster_block_exception")
	files, _ := filepath.Glob(filepath.Join(cfg.DeadLetterDir, "*"))
	require.Empty(t, files, "a cluster block is not a reason to dead-letter")
	srv.Mu.Lock()
	srv.ReadOnly = false
	srv.Mu.Unlock()
	require.NoError(t, e.pushLogs(context.Background(), auditLogs("a", "b")))
	require.Equal(t, 2, srv.Count())
}

func TestOpenSearchDownAtStart(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1")
	e := startExporter(t, cfg) // starts anyway
	err := e.pushLogs(context.Background(), auditLogs("a"))
	require.ErrorContains(t, err, "OpenSearch not ready, the queue keeps the data")
	require.False(t, consumererror.IsPermanent(err))
}

func TestConfigValidate(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Endpoints = []string{"opensearch:9200"}
	cfg.IndexPrefix = "Vigil"
	cfg.Retention = time.Minute
	err := cfg.Validate()
	for _, want := range []string{`endpoints[0]: "opensearch:9200" is not an http(s) URL`, `index_prefix: "Vigil" must be lowercase`,
		`retention: "1m0s" must be at least 1h`, "dead_letter_dir: must be set"} {
		require.ErrorContains(t, err, want)
	}
}

// The delivery lag of each accepted document is the time since vigil received the event; a
// document OpenSearch refuses is not counted.
func TestDeliveryLag(t *testing.T) {
	srv := opensearchtest.Start(t)
	srv.Mu.Lock()
	srv.ItemFault = func(_, id string, _ []byte) (int, string) {
		if strings.Contains(id, ":refused:") {
			return http.StatusBadRequest, "mapper_parsing_exception"
		}
		return 0, ""
	}
	srv.Mu.Unlock()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	e, err := newExporter(set, testConfig(t, srv.URL))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

	ld := auditLogs("a", "b", "refused")
	received := time.Now().Add(-90 * time.Second) // queued for a minute and a half
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		lrs.At(i).SetObservedTimestamp(pcommon.NewTimestampFromTime(received))
	}
	require.NoError(t, e.pushLogs(context.Background(), ld))

	m, err := tel.GetMetric("vigil_opensearch_delivery_lag_seconds")
	require.NoError(t, err)
	dps := m.Data.(metricdata.Histogram[float64]).DataPoints
	require.Len(t, dps, 1)
	require.EqualValues(t, 2, dps[0].Count, "the two accepted documents")
	require.InDelta(t, 90, dps[0].Sum/2, 5)
}

// pushLogs indexes ld as the queue's consumers do (documents, then pushItems).
func (e *osExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	items, err := e.encodeDocs(ld).list()
	if err != nil {
		return err
	}
	return e.pushItems(ctx, items)
}
