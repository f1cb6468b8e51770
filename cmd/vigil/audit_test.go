package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/opensearchtest"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
)

const auditToken = "apiserver-token-cluster-a-0001"

// auditGateway is a restartable gateway (deploy/config/gateway.yaml) whose audit path goes to an
// OpenSearch stand-in, with one data directory across restarts.
type auditGateway struct {
	dataDir   string
	auditOTLP string // the otlp/audit receiver for agents
	env       []string
	args      []string
	health    string
	webhook   string
	query     string // the Loki-compatible read API over the archive
}

func newAuditGateway(t *testing.T, ca *testutil.CA, opensearchURL string, extraYAML ...string) *auditGateway {
	t.Helper()
	cert := ca.Issue(t, "vigil-gateway")
	dir := t.TempDir()
	override := filepath.Join(dir, "audit.yaml")
	query := testutil.FreeAddr(t)
	require.NoError(t, os.WriteFile(override, []byte(fmt.Sprintf(`
extensions:
  clusterauth:
    clusters:
      - name: cluster-a
        bearer_tokens: [%q]
        subjects: [vigil-agent.cluster-a]
exporters:
  opensearch:
    endpoints: [%q]
    item_backoff: 10ms
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 500ms
`, auditToken, opensearchURL)), 0o600))
	g := &auditGateway{health: testutil.FreeAddr(t), dataDir: filepath.Join(dir, "data"), auditOTLP: testutil.FreeAddr(t), query: query}
	audit := testutil.FreeAddr(t)
	g.webhook = "https://" + audit + "/audit"
	g.env = []string{
		"VIGIL_AUDIT_ENDPOINT=" + audit, "VIGIL_AUDIT_OTLP_ENDPOINT=" + g.auditOTLP, "VIGIL_OTLP_GRPC_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t), "VIGIL_HEALTH_ENDPOINT=" + g.health,
		"VIGIL_API_ENDPOINT=" + g.query,
		fmt.Sprintf("VIGIL_METRICS_PORT=%d", testutil.FreePort(t)),
		"VIGIL_TLS_CA_FILE=" + ca.CertFile, "VIGIL_TLS_CERT_FILE=" + cert.CertFile, "VIGIL_TLS_KEY_FILE=" + cert.KeyFile,
	}
	g.args = []string{"--config", "../../deploy/config/gateway.yaml", "--config", override, "--data-dir", g.dataDir}
	if len(extraYAML) > 0 {
		extra := filepath.Join(dir, "extra.yaml")
		require.NoError(t, os.WriteFile(extra, []byte(strings.Join(extraYAML, "\n")), 0o600))
		g.args = append(g.args, "--config", extra)
	}
	return g
}

func (g *auditGateway) start(t *testing.T) *testutil.Process {
	t.Helper()
	p := testutil.Start(t, "gateway", g.env, testutil.VigilBinary(t), g.args...)
	testutil.WaitHTTP(t, "http://"+g.health+"/", 30*time.Second, p)
	return p
}

// apiserver posts audit batches like the kube-apiserver's webhook: each batch is re-sent until it
// is answered 200. It records what was acknowledged.
type apiserver struct {
	client  *http.Client
	url     string
	mu      sync.Mutex
	acked   map[string]bool // auditID
	batches atomic.Int64
}

func newAPIServer(t *testing.T, caFile, url string) *apiserver {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &apiserver{url: url, acked: map[string]bool{}, client: &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
}

func eventList(ids []string) []byte {
	items := make([]map[string]any, len(ids))
	for i, id := range ids {
		items[i] = map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
			"stage": "ResponseComplete", "verb": "get", "user": map[string]any{"username": "alice"},
			"objectRef":      map[string]any{"resource": "pods", "namespace": "shop", "name": id},
			"stageTimestamp": "2026-11-22T10:15:03.131822Z", "requestReceivedTimestamp": "2026-11-22T10:15:03.120000Z"}
	}
	b, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	return b
}

// send re-sends one batch until it is acknowledged or stop is closed.
func (a *apiserver) send(ids []string, stop <-chan struct{}) {
	body := eventList(ids)
	for {
		req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+auditToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				a.mu.Lock()
				for _, id := range ids {
					a.acked[id] = true
				}
				a.mu.Unlock()
				a.batches.Add(1)
				return
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestAuditSurvivesSIGKILLAndOutages: three apiservers post audit batches (re-sending until 200)
// while the gateway is killed with SIGKILL 20 times and OpenSearch is unavailable in every other
// round; at the end every acknowledged event is in OpenSearch exactly once.
func TestAuditSurvivesSIGKILLAndOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("kills vigil 20 times; skipped with -short")
	}
	ca := testutil.NewCA(t)
	search := opensearchtest.Start(t)
	g := newAuditGateway(t, ca, search.URL)
	api := newAPIServer(t, ca.CertFile, g.webhook)
	outage := func(on bool) {
		search.Mu.Lock()
		defer search.Mu.Unlock()
		if on {
			search.RequestFault = func(*http.Request) int { return http.StatusServiceUnavailable }
		} else {
			search.RequestFault = nil
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				ids := make([]string, 20)
				for i := range ids {
					ids[i] = fmt.Sprintf("c%d-b%d-e%d", c, b, i)
				}
				api.send(ids, stop)
			}
		}()
	}
	for round := range 20 {
		outage(round%2 == 1)
		p := g.start(t)
		time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
		require.NoError(t, p.Cmd.Process.Kill(), "round %d", round)
		_, _ = p.Stop(5 * time.Second)
	}
	outage(false)
	final := g.start(t)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	api.mu.Lock()
	acked := len(api.acked)
	api.mu.Unlock()
	require.Positive(t, acked)
	testutil.Eventually(t, 60*time.Second, func() error {
		if n := search.Count(); n < acked {
			return fmt.Errorf("%d of %d acknowledged events in OpenSearch", n, acked)
		}
		return nil
	})
	api.mu.Lock()
	defer api.mu.Unlock()
	for id := range api.acked {
		require.Len(t, search.DocsWithIDPrefix("vigil-audit-2026.11.22", "cluster-a:"+id+":ResponseComplete:"), 1,
			"acknowledged event %s: missing or indexed twice", id)
	}
	// Events sent but never acknowledged may be present too (stored before the answer was lost);
	// nothing else may be, and nothing twice (one _id per cluster, auditID, stage and content).
	require.LessOrEqual(t, search.Count()-acked, 3*20, "at most the batches in flight at the end")

	// The archive: a clean shutdown seals and writes the open objects; the hash chain verifies and
	// every acknowledged event is in it exactly once.
	_, err := final.Stop(30 * time.Second)
	require.NoError(t, err)
	counts := archivedEvents(t, filepath.Join(g.dataDir, "archive"), "cluster-a")
	for id := range api.acked {
		require.Equal(t, 1, counts[id], "acknowledged event %s archived %d times", id, counts[id])
	}
	for id, n := range counts {
		require.Equal(t, 1, n, "event %s archived %d times", id, n)
	}
	t.Logf("%d batches acknowledged (%d events) over 20 SIGKILLs and 10 OpenSearch outages; %d documents in OpenSearch",
		api.batches.Load(), acked, search.Count())
}

// archivedEvents verifies the archive stream of cluster and counts its events by auditID.
func archivedEvents(t *testing.T, dir, cluster string) map[string]int {
	t.Helper()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	stream := archive.Stream{Tenant: "default", Cluster: cluster}
	rep, err := archive.Verify(context.Background(), bkt, stream)
	require.NoError(t, err)
	require.Empty(t, rep.Problems, "the archive verifies")
	require.Positive(t, rep.Objects)
	counts := map[string]int{}
	for seq := uint64(1); seq <= uint64(rep.Entries); seq++ {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(stream.ManifestName(seq))))
		require.NoError(t, err)
		var e archive.Entry
		require.NoError(t, json.Unmarshal(raw, &e))
		obj, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Object)))
		require.NoError(t, err)
		events, err := archive.Decode(obj)
		require.NoError(t, err)
		require.Len(t, events, e.Events)
		for _, ev := range events {
			var v struct{ AuditID string }
			require.NoError(t, json.Unmarshal(ev, &v))
			counts[v.AuditID]++
		}
	}
	return counts
}

// TestAuditLogFileThroughAgent: an agent on a control-plane node follows the apiserver's audit log
// (with a rotation) and forwards it over OTLP/gRPC + mTLS to the gateway's audit pipeline, which
// indexes it in OpenSearch and archives it, each event once.
func TestAuditLogFileThroughAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil processes; skipped with -short")
	}
	ca := testutil.NewCA(t)
	search := opensearchtest.Start(t)
	g := newAuditGateway(t, ca, search.URL)
	gw := g.start(t)
	spec := newAgentSpec(t, "agent", "cluster-a", ca.Issue(t, "vigil-agent.cluster-a"), ca.CertFile, testutil.FreeAddr(t))
	spec.auditGateway = g.auditOTLP
	write := func(from, to int) {
		f, err := os.OpenFile(spec.auditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		for i := from; i < to; i++ {
			line, _ := json.Marshal(map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
				"auditID": fmt.Sprintf("file-%04d", i), "stage": "ResponseComplete", "verb": "delete",
				"user": map[string]any{"username": "bob"}, "objectRef": map[string]any{"resource": "pods", "namespace": "shop", "name": "web"},
				"stageTimestamp": "2026-11-22T10:15:03.131822Z"})
			_, err := f.Write(append(line, '\n'))
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
	}
	write(0, 50)
	spec.start(t)
	write(50, 60)
	require.NoError(t, os.Rename(spec.auditLog, spec.auditLog+".1"))
	write(60, 80)
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := search.Count(); n < 80 {
			return fmt.Errorf("%d of 80 file events in OpenSearch", n)
		}
		return nil
	})
	require.Equal(t, 80, search.Count())
	require.Len(t, search.DocsWithIDPrefix("vigil-audit-2026.11.22", "cluster-a:file-0042:ResponseComplete:"), 1)
	_, err := gw.Stop(30 * time.Second)
	require.NoError(t, err)
	counts := archivedEvents(t, filepath.Join(g.dataDir, "archive"), "cluster-a")
	require.Len(t, counts, 80)
	for id, n := range counts {
		require.Equal(t, 1, n, "event %s archived %d times", id, n)
	}
}

// TestAuditPushesBackWhenTheDiskQueueIsFull: with OpenSearch down, the durable queue fills up to
// max_bytes; the webhook then answers 503 with Retry-After (nothing is dropped), and once
// OpenSearch is back the queue drains and the refused batch is accepted.
func TestAuditPushesBackWhenTheDiskQueueIsFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil; skipped with -short")
	}
	ca := testutil.NewCA(t)
	search := opensearchtest.Start(t)
	search.Mu.Lock()
	search.RequestFault = func(*http.Request) int { return http.StatusServiceUnavailable }
	search.Mu.Unlock()
	g := newAuditGateway(t, ca, search.URL, `
exporters:
  archive:
    max_object_age: 1s
extensions:
  walstorage:
    max_bytes: 4000000
    segment_bytes: 262144
`)
	g.start(t)
	api := newAPIServer(t, ca.CertFile, g.webhook)

	post := func(ids []string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, api.url, bytes.NewReader(eventList(ids)))
		req.Header.Set("Authorization", "Bearer "+auditToken)
		resp, err := api.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	var acked []string
	var refused []string
	for b := 0; b < 400 && refused == nil; b++ {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = fmt.Sprintf("full-b%d-e%d", b, i)
		}
		resp := post(ids)
		switch resp.StatusCode {
		case http.StatusOK:
			acked = append(acked, ids...)
		case http.StatusServiceUnavailable:
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
			refused = ids
		default:
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	}
	require.NotNil(t, refused, "the queue must fill up and push back")
	require.NotEmpty(t, acked)

	search.Mu.Lock()
	search.RequestFault = nil
	search.Mu.Unlock()
	testutil.Eventually(t, 60*time.Second, func() error {
		if resp := post(refused); resp.StatusCode != http.StatusOK {
			return fmt.Errorf("still %d", resp.StatusCode)
		}
		return nil
	})
	acked = append(acked, refused...)
	testutil.Eventually(t, 60*time.Second, func() error {
		if n := search.Count(); n < len(acked) {
			return fmt.Errorf("%d of %d events in OpenSearch", n, len(acked))
		}
		return nil
	})
	for _, id := range acked {
		require.Len(t, search.DocsWithIDPrefix("vigil-audit-2026.11.22", "cluster-a:"+id+":ResponseComplete:"), 1, "event %s", id)
	}
	t.Logf("%d events acknowledged before the queue was full; the refused batch was accepted after OpenSearch came back", len(acked)-len(refused))
}
