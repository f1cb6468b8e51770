package k8sauditreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// startReceiver runs the receiver on a free port; it returns the webhook URL.
func startReceiver(t *testing.T, cfg *Config, next consumer.Logs, h component.Host) string {
	t.Helper()
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	require.NoError(t, cfg.Validate())
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(Type), cfg, next)
	require.NoError(t, err)
	if h == nil {
		h = componenttest.NewNopHost()
	}
	require.NoError(t, r.Start(context.Background(), h))
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, r.Shutdown(context.Background()), "Shutdown is idempotent")
	})
	return "http://" + cfg.NetAddr.Endpoint + cfg.Path
}

func localConfig() *Config {
	cfg := createDefaultConfig()
	cfg.Cluster = "local"
	return cfg
}

type reply struct {
	code       int
	retryAfter string
	body       response
}

func post(t *testing.T, url string, body []byte, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	require.NoError(t, json.Unmarshal(raw, &r), "answer: %s", raw)
	return reply{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: r}
}

func recordsOf(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
					out = append(out, sls.At(j).LogRecords().At(k))
				}
			}
		}
	}
	return out
}

func TestWebhookStoresEventsOnce(t *testing.T) {
	sink := &consumertest.LogsSink{}
	url := startReceiver(t, localConfig(), sink, nil)
	body := readEventList(t)

	r := post(t, url, body, nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, 7, r.body.Accepted)
	records := recordsOf(sink)
	require.Len(t, records, 7)
	cluster, _ := sink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().Get("k8s.cluster.name")
	require.Equal(t, "local", cluster.Str())
	secret := records[2]
	attrs := secret.Attributes().AsRaw()
	require.Equal(t, "8c2d1e44-5f6a-4b3c-8d2e-1f0a9b8c7d65", attrs[AttrAuditID])
	require.Equal(t, "ResponseComplete", attrs[AttrStage])
	require.Equal(t, "create", attrs[AttrVerb])
	require.Equal(t, "system:serviceaccount:ci:deployer", attrs[AttrUsername])
	require.Equal(t, []any{"system:serviceaccounts", "system:authenticated"}, attrs[AttrGroups])
	require.Equal(t, "secrets", attrs[AttrResource])
	require.Equal(t, "db-password", attrs[AttrName])
	require.Equal(t, int64(201), attrs[AttrResponseCode])
	require.Equal(t, "2026-11-22T10:15:03.131822Z", attrs[AttrStageTimestamp])
	require.Equal(t, "2026-11-22T10:15:03.131822Z", secret.Timestamp().AsTime().UTC().Format("2006-01-02T15:04:05.999999Z"))

	// The apiserver re-sends the batch (gzip this time): nothing is stored twice.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	require.NoError(t, zw.Close())
	r = post(t, url, gz.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, 0, r.body.Accepted)
	require.Equal(t, 7, r.body.Duplicates)
	require.Len(t, recordsOf(sink), 7)
}

func TestWebhookRejections(t *testing.T) {
	cfg := localConfig()
	cfg.MaxRequestBodySize = 4096
	cfg.MaxEventBytes = 1024
	sink := &consumertest.LogsSink{}
	url := startReceiver(t, cfg, sink, nil)

	r := post(t, url, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`), nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.body.Error, "cannot decode the request body as an audit EventList")

	r = post(t, url, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1alpha1","items":[]}`), nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.body.Error, `apiVersion "audit.k8s.io/v1alpha1"`)

	r = post(t, url, bytes.Repeat([]byte(" "), 5000), nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.Contains(t, r.body.Error, "exceeds the limit of 4096 bytes (max_request_body_size)")

	mixed := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[
		{"auditID":"ok-1","stage":"ResponseComplete"},
		{"stage":"ResponseComplete"},
		{"auditID":"big","stage":"ResponseComplete","requestObject":"` + strings.Repeat("x", 2000) + `"},
		{"auditID":"ok-2","stage":"ResponseComplete"}]}`
	r = post(t, url, []byte(mixed), nil)
	require.Equal(t, http.StatusOK, r.code, "the good events of a batch are kept")
	require.Equal(t, 2, r.body.Accepted)
	require.Len(t, r.body.Rejected, 2)
	require.Equal(t, ReasonMissingAuditID, r.body.Rejected[0].Reason)
	require.Equal(t, ReasonTooLarge, r.body.Rejected[1].Reason)
	require.Len(t, recordsOf(sink), 2)

	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// flaky fails the first calls with a retryable error, like a full queue.
type flaky struct {
	consumertest.LogsSink
	failures atomic.Int32
	err      error
}

func (f *flaky) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if f.failures.Add(-1) >= 0 {
		return f.err
	}
	return f.LogsSink.ConsumeLogs(ctx, ld)
}

func TestWebhookPushesBackAndAcceptsTheRetry(t *testing.T) {
	next := &flaky{err: errors.New("queue full")}
	next.failures.Store(1)
	url := startReceiver(t, localConfig(), next, nil)
	body := readEventList(t)

	r := post(t, url, body, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.code)
	require.Equal(t, "5", r.retryAfter)
	require.Contains(t, r.body.Error, "queue full")

	r = post(t, url, body, nil)
	require.Equal(t, http.StatusOK, r.code, "events whose first delivery failed are not taken for duplicates")
	require.Equal(t, 7, r.body.Accepted)
	require.Len(t, recordsOf(&next.LogsSink), 7)

	permanent := &flaky{err: consumererror.NewPermanent(errors.New("bad data"))}
	permanent.failures.Store(1)
	url = startReceiver(t, localConfig(), permanent, nil)
	r = post(t, url, body, nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.body.Error, "bad data")
}

// startAuthenticated starts the webhook behind the clusterauth extension, each cluster
// authenticated by the token "apiserver-token-<cluster>".
func startAuthenticated(t *testing.T, sink consumer.Logs, clusters ...string) string {
	t.Helper()
	authCfg := &clusterauthextension.Config{}
	for _, c := range clusters {
		authCfg.Clusters = append(authCfg.Clusters, clusterauthextension.ClusterConfig{
			Name: c, BearerTokens: []configopaque.String{configopaque.String("apiserver-token-" + c)}})
	}
	ext, err := clusterauthextension.NewFactory().Create(context.Background(),
		extensiontest.NewNopSettings(clusterauthextension.Type), authCfg)
	require.NoError(t, err)
	authID := component.NewID(clusterauthextension.Type)
	cfg := createDefaultConfig()
	cfg.Auth = configoptional.Some(confighttpAuth(authID))
	return startReceiver(t, cfg, sink, testutil.Host(map[component.ID]component.Component{authID: ext}))
}

func TestWebhookClusterFromToken(t *testing.T) {
	sink := &consumertest.LogsSink{}
	url := startAuthenticated(t, sink, "prod-eu-1")

	body := readEventList(t)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer wrong-token-000000")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	refusal, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, string(refusal), "bearer token is not listed under clusterauth clusters[].bearer_tokens")
	require.NotContains(t, string(refusal), "rpc error", "an HTTP client gets the message, not a gRPC status text")
	require.Empty(t, sink.AllLogs())

	r := post(t, url, body, map[string]string{"Authorization": "Bearer apiserver-token-prod-eu-1"})
	require.Equal(t, http.StatusOK, r.code)
	cluster, _ := sink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().Get("k8s.cluster.name")
	require.Equal(t, "prod-eu-1", cluster.Str())
}

func TestConfigValidate(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Path = "audit"
	cfg.MaxEventBytes = 0
	cfg.DedupWindow = -1
	cfg.RetryAfter = 0
	err := cfg.Validate()
	for _, want := range []string{`path: "audit" must start with /`, "max_event_bytes: 0 must be positive",
		`dedup_window: "-1ns" must not be negative`, `retry_after: "0s" must be positive`, "cluster: must be set when no auth"} {
		require.ErrorContains(t, err, want)
	}
	require.Equal(t, "127.0.0.1:8090", createDefaultConfig().NetAddr.Endpoint, "listens on 127.0.0.1 unless configured")

}

func confighttpAuth(id component.ID) confighttp.AuthConfig {
	return confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: id}}
}
