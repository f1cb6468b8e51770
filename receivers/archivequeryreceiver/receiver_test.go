package archivequeryreceiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
)

const readerToken = "auditor-1-token-0123456789"

type fixture struct {
	dir    string // the archive bucket's directory
	url    string
	events []audittest.Event
	sink   *consumertest.LogsSink
	engine *archivequery.Engine
	client *http.Client
}

func start(t *testing.T, next consumer.Logs, mutate func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	events := audittest.Events([]string{"eu", "us"}, 200)
	audittest.WriteArchive(t, bkt, events, 40)

	cfg := createDefaultConfig()
	cfg.Server.NetAddr.Endpoint = testutil.FreeAddr(t)
	cfg.Bucket.Directory = dir
	cfg.Readers = []Reader{{Name: "auditor-1", BearerTokens: []configopaque.String{readerToken}}}
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	f := &fixture{dir: dir, events: events, engine: &archivequery.Engine{Bucket: bkt}, client: &http.Client{Timeout: 10 * time.Second}}
	if next == nil {
		f.sink = &consumertest.LogsSink{}
		next = f.sink
	}
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	f.url = "http://" + cfg.Server.NetAddr.Endpoint
	return f
}

func (f *fixture) get(t *testing.T, path string, params url.Values, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path+"?"+params.Encode(), nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func rangeParams(q string, limit int, direction string) url.Values {
	return url.Values{"query": {q}, "start": {audittest.T0.Add(-time.Hour).Format(time.RFC3339Nano)},
		"end": {audittest.T0.Add(5 * time.Hour).Format(time.RFC3339Nano)}, "limit": {strconvItoa(limit)}, "direction": {direction}}
}

func strconvItoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// lokiLines decodes a query_range answer with Loki's own types and returns its lines, sorted.
func lokiLines(t *testing.T, body []byte) ([]string, loghttp.Streams) {
	t.Helper()
	var resp loghttp.QueryResponse
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	require.Equal(t, "success", resp.Status)
	require.Equal(t, loghttp.ResultType(loghttp.ResultTypeStream), resp.Data.ResultType)
	streams, ok := resp.Data.Result.(loghttp.Streams)
	require.True(t, ok)
	var lines []string
	for _, s := range streams {
		for _, e := range s.Entries {
			lines = append(lines, e.Line)
		}
	}
	sort.Strings(lines)
	return lines, streams
}

func TestQueryRangeMatchesTheEngineAndIsAudited(t *testing.T) {
	f := start(t, nil, nil)
	queries := []string{
		`{cluster="eu", user="alice"}`,
		`{resource="secrets"} |= "obj-1" | json | verb=~"list|watch"`,
		`{cluster="us"} | json | line_format "{{.user_username}} {{.verb}} {{.objectRef_namespace}}/{{.objectRef_name}}"`,
	}
	for i, q := range queries {
		code, body := f.get(t, "/loki/api/v1/query_range", rangeParams(q, 1000, "backward"), readerToken)
		require.Equal(t, http.StatusOK, code, string(body))
		got, streams := lokiLines(t, body)
		want, _, err := f.engine.Run(context.Background(), archivequery.Query{Expr: q, Limit: 1000})
		require.NoError(t, err)
		var wantLines []string
		for _, r := range want {
			wantLines = append(wantLines, r.Line)
		}
		sort.Strings(wantLines)
		require.NotEmpty(t, wantLines)
		require.Equal(t, wantLines, got, q)
		for _, s := range streams {
			require.NotEmpty(t, s.Labels["cluster"], "streams carry the labels")
		}
		require.Equal(t, i+1, f.sink.LogRecordCount(), "every query is recorded")
	}
	rec := f.sink.AllLogs()[0].ResourceLogs().At(0)
	cluster, _ := rec.Resource().Attributes().Get("k8s.cluster.name")
	require.Equal(t, "vigil", cluster.Str())
	var ev queryRecord
	require.NoError(t, json.Unmarshal([]byte(rec.ScopeLogs().At(0).LogRecords().At(0).Body().Str()), &ev))
	require.Equal(t, "auditor-1", ev.User["username"])
	require.Equal(t, queries[0], ev.Annotations["vigil.dev/query"])
	require.Equal(t, "query", ev.Verb)
	require.Equal(t, 200, ev.Response["code"])
	n := 0
	for _, e := range f.events {
		if e.Cluster == "eu" && e.User.Username == "alice" {
			n++
		}
	}
	require.Equal(t, strconvItoa(n), ev.Annotations["vigil.dev/results"])
	require.Equal(t, "127.0.0.1", ev.SourceIPs[0])
}

func TestLimitDirectionLabelsAndSeries(t *testing.T) {
	f := start(t, nil, nil)
	code, body := f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 3, "forward"), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	got, _ := lokiLines(t, body)
	require.Len(t, got, 3)
	require.Contains(t, got[0], `"auditID":"eu-00000"`, "forward: the oldest first")

	code, body = f.get(t, "/loki/api/v1/labels", url.Values{}, readerToken)
	require.Equal(t, http.StatusOK, code)
	var labels loghttp.LabelResponse
	require.NoError(t, json.Unmarshal(body, &labels))
	require.Equal(t, archivequery.LabelNames, labels.Data)

	params := url.Values{"start": {audittest.T0.Format(time.RFC3339)}, "end": {audittest.T0.Add(3 * time.Hour).Format(time.RFC3339)}}
	code, body = f.get(t, "/loki/api/v1/label/user/values", params, readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	require.NoError(t, json.Unmarshal(body, &labels))
	require.Equal(t, []string{"alice", "bob", "carol", "system:serviceaccount:kube-system:deployment-controller"}, labels.Data)

	code, body = f.get(t, "/loki/api/v1/label/cluster/values", params, readerToken)
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &labels))
	require.Equal(t, []string{"eu", "us"}, labels.Data)

	params.Set("match[]", `{cluster="us", user="bob", verb="delete"}`)
	code, body = f.get(t, "/loki/api/v1/series", params, readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	var series loghttp.SeriesResponse
	require.NoError(t, json.Unmarshal(body, &series))
	require.NotEmpty(t, series.Data)
	for _, s := range series.Data {
		require.Equal(t, "bob", s["user"])
		require.Equal(t, "delete", s["verb"])
	}
}

func TestRefusals(t *testing.T) {
	f := start(t, nil, nil)
	q := rangeParams(`{cluster="eu"}`, 10, "backward")
	code, body := f.get(t, "/loki/api/v1/query_range", q, "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, string(body), "send a reader's bearer token")
	code, body = f.get(t, "/loki/api/v1/query_range", q, "not-a-reader-token-at-all")
	require.Equal(t, http.StatusUnauthorized, code)
	require.NotContains(t, string(body), "not-a-reader-token-at-all", "tokens are never echoed")
	require.Equal(t, 0, f.sink.LogRecordCount(), "unauthenticated requests return nothing")

	code, body = f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"`, 10, "backward"), readerToken)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "parse error at line 1, col 14")
	code, body = f.get(t, "/loki/api/v1/query", url.Values{"query": {`{cluster="eu"}`}}, readerToken)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "log queries are not supported as an instant query type")
	code, body = f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 6000, "backward"), readerToken)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "limit > max_limit (6000 > 5000; archivequery max_limit)")
	code, body = f.get(t, "/loki/api/v1/query_range", rangeParams(`count_over_time({cluster="eu"}[5m]`, 10, "backward"), readerToken)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "parse error")
	require.Equal(t, 4, f.sink.LogRecordCount(), "refused queries are recorded too")
}

func TestNoResultsWithoutAnAuditRecord(t *testing.T) {
	f := start(t, consumertest.NewErr(errors.New("durable queue is full")), nil)
	code, body := f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 10, "backward"), readerToken)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, string(body), "cannot record this query in the audit trail, so its results are withheld")
	require.NotContains(t, string(body), "auditID")
}

func TestReaderByClientCertificate(t *testing.T) {
	ca := testutil.NewCA(t)
	server := ca.Issue(t, "vigil-gateway", "localhost")
	auditor := ca.Issue(t, "auditor-2.example.org")
	stranger := ca.Issue(t, "someone-else")
	f := start(t, nil, func(c *Config) {
		c.Server.TLS = configtlsServer(server.CertFile, server.KeyFile, ca.CertFile)
		c.Readers = append(c.Readers, Reader{Name: "auditor-2", Subjects: []string{"auditor-2.example.org"}})
	})
	f.url = strings.Replace(f.url, "http://", "https://", 1)
	do := func(cert testutil.CertFiles) int {
		pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		require.NoError(t, err)
		pem, err := os.ReadFile(ca.CertFile)
		require.NoError(t, err)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		f.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "localhost", MinVersion: tls.VersionTLS12}}}
		code, _ := f.get(t, "/loki/api/v1/labels", url.Values{}, "")
		return code
	}
	require.Equal(t, http.StatusOK, do(auditor))
	require.Equal(t, http.StatusUnauthorized, do(stranger))
	var ev queryRecord
	require.NoError(t, json.Unmarshal([]byte(f.sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()), &ev))
	require.Equal(t, "auditor-2", ev.User["username"])
}

func configtlsServer(cert, key, clientCA string) configoptional.Optional[configtls.ServerConfig] {
	c := configtls.NewDefaultServerConfig()
	c.CertFile, c.KeyFile, c.ClientCAFile = cert, key, clientCA
	return configoptional.Some(c)
}

func TestConfigValidate(t *testing.T) {
	c := createDefaultConfig()
	c.Server.NetAddr.Endpoint = "0.0.0.0:3101"
	c.Readers = []Reader{{Name: "a", BearerTokens: []configopaque.String{"short"}}, {Name: "a"}}
	c.MaxLimit = 0
	c.MaxQuerySeries = 0
	c.MaxPoints = 20000
	err := c.Validate()
	require.ErrorContains(t, err, "bucket: directory: set directory")
	require.ErrorContains(t, err, "readers[0].bearer_tokens[0]: shorter than 16 characters")
	require.ErrorContains(t, err, `readers[1].name: "a" is listed twice`)
	require.ErrorContains(t, err, "readers[1] (a): needs subjects or bearer_tokens")
	require.ErrorContains(t, err, "max_limit: 0 must be positive")
	require.ErrorContains(t, err, "max_query_series: 0 must be positive")
	require.ErrorContains(t, err, "max_points: 20000 must be between 1 and 11000")
	c.Readers = nil
	require.ErrorContains(t, c.Validate(), `readers: must be set when server.endpoint "0.0.0.0:3101" is not a loopback address`)
}

type extHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// TestOnTheSharedAPIPort: with http_api the API is served on the httpapi extension's port,
// readers and the audit trail unchanged; a non-loopback API port without readers is refused.
func TestOnTheSharedAPIPort(t *testing.T) {
	apiCfg := httpapiextension.NewFactory().CreateDefaultConfig().(*httpapiextension.Config)
	apiCfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	ext, err := httpapiextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(httpapiextension.Type), apiCfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	id := component.NewID(httpapiextension.Type)
	h := extHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: ext}}

	dir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	audittest.WriteArchive(t, bkt, audittest.Events([]string{"eu"}, 50), 25)
	cfg := createDefaultConfig()
	cfg.Bucket.Directory, cfg.HTTPAPI = dir, &id
	cfg.Server.NetAddr.Endpoint = "" // not used with http_api
	cfg.Readers = []Reader{{Name: "auditor-1", BearerTokens: []configopaque.String{readerToken}}}
	require.NoError(t, cfg.Validate())
	sink := &consumertest.LogsSink{}
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })

	f := &fixture{url: "http://" + apiCfg.NetAddr.Endpoint, client: &http.Client{Timeout: 10 * time.Second}}
	code, _ := f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 10, "forward"), "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 10, "forward"), readerToken)
	require.Equal(t, http.StatusOK, code, string(body))
	lines, _ := lokiLines(t, body)
	require.Len(t, lines, 10)
	require.Equal(t, 1, sink.LogRecordCount(), "the query is in the audit trail")

	// A second receiver cannot take the same paths.
	r2, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.ErrorContains(t, r2.Start(context.Background(), h), "already served on the API port")
	require.NoError(t, r2.Shutdown(context.Background()))

	// Anonymous reads stay local: an API port on all interfaces needs readers.
	wide := httpapiextension.NewFactory().CreateDefaultConfig().(*httpapiextension.Config)
	wide.NetAddr.Endpoint = "0.0.0.0:3101"
	ext2, err := httpapiextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(httpapiextension.Type), wide)
	require.NoError(t, err)
	h.exts[id] = ext2 // not started: the receiver refuses before mounting anything
	cfg.Readers = nil
	require.NoError(t, cfg.Validate())
	r3, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.ErrorContains(t, r3.Start(context.Background(), h), `readers: must be set, here or on extension httpapi, when the API port "0.0.0.0:3101"`)
	require.NoError(t, r3.Shutdown(context.Background()))

	// The port's own readers are enough, and name the reader in the audit trail.
	wide.Readers = []Reader{{Name: "grafana", BearerTokens: []configopaque.String{readerToken + "-grafana"}}}
	wide.NetAddr.Endpoint = "0.0.0.0:" + strings.Split(testutil.FreeAddr(t), ":")[1]
	ext3, err := httpapiextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(httpapiextension.Type), wide)
	require.NoError(t, err)
	require.NoError(t, ext3.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext3.Shutdown(context.Background())) })
	h.exts[id] = ext3
	r4, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r4.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, r4.Shutdown(context.Background())) })
	f.url = "http://127.0.0.1:" + strings.Split(wide.NetAddr.Endpoint, ":")[1]
	code, _ = f.get(t, "/loki/api/v1/status/buildinfo", url.Values{}, "")
	require.Equal(t, http.StatusUnauthorized, code, "buildinfo is behind the readers too")
	code, body = f.get(t, "/loki/api/v1/query_range", rangeParams(`{cluster="eu"}`, 10, "forward"), readerToken+"-grafana")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 2, sink.LogRecordCount())
	require.Contains(t, sink.AllLogs()[1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str(), `"user":{"username":"grafana"}`)
}
