package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/vigil-obs/vigil/internal/opensearchtest"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/archive"
)

// The alert core's timing on the gateways of TestThreeGatewaysTwoAgentsOneTruth: an alert sent
// by a replica stays active in Alertmanager for endsAt = 4 x max(evaluation_interval,
// resend_delay) = 8s after its last send (docs/scale-out.md).
const (
	soEvalInterval = 2 * time.Second
	soResendDelay  = time.Second
	soEndsAt       = 4 * soEvalInterval
)

// auditTokenB is cluster-b's apiserver token on the gateways of TestThreeGatewaysTwoAgentsOneTruth.
const auditTokenB = "apiserver-token-cluster-b-0002"

// soGateway is one replica of TestThreeGatewaysTwoAgentsOneTruth; the same fields restart it on
// its volume, addresses and writer name.
type soGateway struct {
	name                                  string
	grpc, auditOTLP, webhook, health, dir string
	metricsPort                           int
	sink                                  *traceSink
	sinkAddr, override, caFile, cert, key string
	proc                                  *testutil.Process
}

func (g *soGateway) start(t *testing.T) {
	t.Helper()
	g.proc = testutil.Start(t, g.name, []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + g.grpc, "VIGIL_OTLP_HTTP_ENDPOINT=" + testutil.FreeAddr(t),
		"VIGIL_AUDIT_ENDPOINT=" + g.webhook, "VIGIL_AUDIT_OTLP_ENDPOINT=" + g.auditOTLP,
		"VIGIL_HEALTH_ENDPOINT=" + g.health, "VIGIL_API_ENDPOINT=" + testutil.FreeAddr(t),
		fmt.Sprintf("VIGIL_METRICS_PORT=%d", g.metricsPort),
		"VIGIL_TLS_CA_FILE=" + g.caFile, "VIGIL_TLS_CERT_FILE=" + g.cert, "VIGIL_TLS_KEY_FILE=" + g.key,
		"VIGIL_ARCHIVE_WRITER=" + g.name, // its own chain per cluster in the shared bucket
		"VIGIL_TRACES_ENDPOINT=" + g.sinkAddr, "VIGIL_TRACES_INSECURE=true",
	}, testutil.VigilBinary(t), "--config", "../../deploy/config/gateway.yaml", "--config", g.override, "--data-dir", g.dir)
	testutil.WaitHTTP(t, "http://"+g.health+"/", 30*time.Second, g.proc)
}

// metricPoints is how many metric points the gateway's OTLP receiver accepted since it started.
func (g *soGateway) metricPoints() float64 {
	n, _ := testutil.ScrapeSum(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.metricsPort),
		"otelcol_receiver_accepted_metric_points_total", `receiver="otlp"`)
	return n
}

// hookSender is a cluster's kube-apiserver audit webhook behind a Service over the gateways: each
// batch goes to the next gateway, and is re-sent to the one after while it is not answered 200.
// Every 40th batch, from the 5th, is first taken by another gateway whose answer is lost: the
// apiserver sends it again, and two gateways keep it.
type hookSender struct {
	cluster, token string
	client         *http.Client
	urls           []string
	mu             sync.Mutex
	sent, acked    []string // auditIDs
	doubled        []string // auditIDs of batches two gateways answered 200
}

func (h *hookSender) run(ctx context.Context, maxBatches int) {
	for b := 0; b < maxBatches && ctx.Err() == nil; b++ {
		ids := make([]string, 10)
		for i := range ids {
			ids[i] = fmt.Sprintf("hook-%s-b%d-e%d", h.cluster, b, i)
		}
		h.mu.Lock()
		h.sent = append(h.sent, ids...)
		h.mu.Unlock()
		body := eventList(ids)
		lost := -1 // the gateway whose answer was lost
		if b%40 == 5 && h.post(ctx, h.urls[(b+1)%len(h.urls)], body) {
			lost = (b + 1) % len(h.urls)
		}
		for k := 0; ctx.Err() == nil; k++ {
			to := (b + k) % len(h.urls)
			if h.post(ctx, h.urls[to], body) {
				h.mu.Lock()
				h.acked = append(h.acked, ids...)
				if lost >= 0 && lost != to {
					h.doubled = append(h.doubled, ids...)
				}
				h.mu.Unlock()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func (h *hookSender) doubledIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.doubled)
}

// post sends one audit batch to url and reports whether it was answered 200.
func (h *hookSender) post(ctx context.Context, url string, body []byte) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// appendAuditFile appends the events ids to an apiserver's audit log file (what it wrote is
// what it acknowledged: the agent must deliver every line).
func appendAuditFile(path string, ids []string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	for _, id := range ids {
		line, _ := json.Marshal(map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
			"auditID": id, "stage": "ResponseComplete", "verb": "delete",
			"user": map[string]any{"username": "bob"}, "objectRef": map[string]any{"resource": "pods", "namespace": "shop", "name": id},
			"stageTimestamp": "2026-11-22T10:15:03.131822Z"})
		if _, err := f.Write(append(line, '\n')); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// chainCounts reads every writer's chain of the bucket: how often each event (cluster:auditID)
// is in each writer's chain.
func chainCounts(t *testing.T, cfg *archive.BucketConfig) map[string]map[string]int {
	t.Helper()
	ctx := context.Background()
	bkt, err := cfg.OpenBucket()
	require.NoError(t, err)
	defer bkt.Close()
	streams, err := archive.Streams(ctx, bkt)
	require.NoError(t, err)
	counts := map[string]map[string]int{}
	for _, s := range streams {
		entries, err := archive.Manifest(ctx, bkt, s)
		require.NoError(t, err)
		for _, e := range entries {
			_, events, err := archive.ReadObjectOf(ctx, bkt, s, e)
			require.NoError(t, err)
			for _, ev := range events {
				var v struct{ AuditID string }
				require.NoError(t, json.Unmarshal(ev, &v))
				k := s.Cluster + ":" + v.AuditID
				if counts[k] == nil {
					counts[k] = map[string]int{}
				}
				counts[k][s.Writer]++
			}
		}
	}
	return counts
}

// alertWatch polls Alertmanager for the one alert named name, from its first sight until stop:
// the longest time it was not active, and the most alerts of that name at once.
type alertWatch struct {
	mu        sync.Mutex
	seen      bool
	absent    time.Time // zero while active
	maxGap    time.Duration
	maxAlerts int
	errs      int
}

func (w *alertWatch) run(ctx context.Context, am *testutil.Alertmanager, name string) {
	for ctx.Err() == nil {
		alerts, err := activeAlerts(am, name)
		now := time.Now()
		w.mu.Lock()
		switch {
		case err != nil:
			w.errs++
		case len(alerts) > 0 && alerts[0].EndsAt.After(now):
			w.seen = true
			w.maxAlerts = max(w.maxAlerts, len(alerts))
			if !w.absent.IsZero() {
				w.maxGap = max(w.maxGap, now.Sub(w.absent))
				w.absent = time.Time{}
			}
		case w.seen && w.absent.IsZero():
			w.absent = now
		}
		w.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *alertWatch) gap() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.absent.IsZero() {
		return max(w.maxGap, time.Since(w.absent))
	}
	return w.maxGap
}

// TestThreeGatewaysTwoAgentsOneTruth is issue 18's scenario: three real gateway processes
// (deploy/config/gateway.yaml, each its own volume and archive writer) archive into one real MinIO
// bucket and index into one OpenSearch stand-in, and notify one real Alertmanager; two real agents
// (deploy/config/agent.yaml, clusters cluster-a and cluster-b, forward::endpoints of the three)
// carry spans, a metric and their apiservers' audit log files, while both clusters' apiservers
// post audit webhooks over the three. The gateway that owns agent-a's metrics is SIGKILLed
// mid-load and restarted later. Then:
//   - every acknowledged audit event (webhook answered 200, or written to an audit file) is exactly
//     once in the merged archive (`vigil archive export` over all writers) and in OpenSearch (by
//     _id), and nothing else is there; underneath, each writer's chain holds an event at most
//     once, and the batches two gateways took are in both chains;
//   - `vigil archive verify` is clean over every writer's chain, the killed writer's included;
//   - all spans of each trace reached one gateway (all three used before the kill, a survivor
//     after it), every acknowledged span delivered once the killed gateway is back;
//   - the alert fired by the metric stayed active in Alertmanager throughout (no gap: the agent
//     moved the node's series to the next gateway within the dead replica's endsAt), as one alert,
//     and the on-call was paged once.
func TestThreeGatewaysTwoAgentsOneTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five vigil processes, MinIO and Alertmanager; skipped with -short")
	}
	began := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	m := testutil.StartMinIO(t)
	m.MakeBucket(t, "audit", true) // WORM, as a compliance archive
	t.Setenv(envS3AccessKey, m.AccessKey)
	t.Setenv(envS3SecretKey, m.SecretKey)
	hook := &oncall{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	am := testutil.StartAlertmanagerWithConfig(t, fmt.Sprintf(`
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    webhook_configs: [{url: %q, send_resolved: true}]
`, hookSrv.URL))
	search := opensearchtest.Start(t)
	rules := filepath.Join(t.TempDir(), "lag.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
  - name: lag
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 5s # the gateway taking the series over takes the alert over from Alertmanager (take_over_firing)
`), 0o600))
	override := filepath.Join(t.TempDir(), "scaleout.yaml")
	require.NoError(t, os.WriteFile(override, fmt.Appendf(nil, `
extensions:
  clusterauth:
    clusters:
      - name: cluster-a
        subjects: [vigil-agent.cluster-a]
        bearer_tokens: [%q]
      - name: cluster-b
        subjects: [vigil-agent.cluster-b]
        bearer_tokens: [%q]
exporters:
  archive:
    directory: ""
    s3: {bucket: audit, endpoint: %q, access_key: %q, secret_key: %q, insecure: true}
    max_object_age: 1s
  opensearch:
    endpoints: [%q]
    item_backoff: 10ms
    retry_on_failure: {initial_interval: 50ms, max_interval: 500ms}
  alert:
    rule_files: [%q]
    alertmanagers: [%q]
    external_labels: {source: vigil} # the same on every replica: Alertmanager deduplicates by labels
    min_eval_interval: 100ms
    evaluation_interval: %s
    resend_delay: %s
`, auditToken, auditTokenB, m.Endpoint, m.AccessKey, m.SecretKey, search.URL, rules, am.URL, soEvalInterval, soResendDelay), 0o600))

	step("MinIO, Alertmanager, OpenSearch stand-in up")
	ca := testutil.NewCA(t)
	gwCert := ca.Issue(t, "vigil-gateway")
	gws := make([]*soGateway, 3)
	var grpcAddrs, webhooks []string
	for i := range gws {
		g := &soGateway{name: fmt.Sprintf("vigil-gateway-%d", i), grpc: testutil.FreeAddr(t), auditOTLP: testutil.FreeAddr(t),
			webhook: testutil.FreeAddr(t), health: testutil.FreeAddr(t), dir: t.TempDir(), metricsPort: testutil.FreePort(t),
			override: override, caFile: ca.CertFile, cert: gwCert.CertFile, key: gwCert.KeyFile}
		g.sink, g.sinkAddr = startTraceSink(t)
		g.start(t)
		gws[i] = g
		grpcAddrs = append(grpcAddrs, g.grpc)
		webhooks = append(webhooks, "https://"+g.webhook+"/audit")
	}
	forward := filepath.Join(t.TempDir(), "gateways.yaml")
	require.NoError(t, os.WriteFile(forward, fmt.Appendf(nil, `
receivers:
  otlprelay:
    forward:
      endpoint: ""
      endpoints: [%q, %q, %q]
exporters:
  otlp_grpc/gateway-audit: # retries of the audit files' exporter every second at most, not 30s: a short test
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s}
`, grpcAddrs[0], grpcAddrs[1], grpcAddrs[2]), 0o600))
	newAgent := func(name, cluster string, audit *soGateway) agentSpec {
		spec := newAgentSpec(t, name, cluster, ca.Issue(t, "vigil-agent."+cluster), ca.CertFile, grpcAddrs[0])
		spec.extraConfig = forward
		spec.auditGateway = audit.auditOTLP // the audit files' otlp_grpc exporter: one gateway
		return spec
	}

	step("3 gateways up")
	// agent-a carries the metric: its node's series go to one gateway, the one that is killed.
	agentA := newAgent("agent-a", "cluster-a", gws[0])
	agentA.start(t)
	exp, err := otlpmetrichttp.New(context.Background(), otlpmetrichttp.WithEndpoint(agentA.otlpHTTP), otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(200*time.Millisecond))),
		sdkmetric.WithResource(resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("postgres"), semconv.ServiceInstanceID("db-1:9187"))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	_, err = mp.Meter("replication").Float64ObservableGauge("pg.replication.lag", metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(42) // seconds: above the rule's 30
			return nil
		}))
	require.NoError(t, err)
	var owner *soGateway
	testutil.Eventually(t, 20*time.Second, func() error {
		var got []string
		for _, g := range gws {
			if g.metricPoints() > 0 {
				owner = g
				got = append(got, g.name)
			}
		}
		if len(got) != 1 {
			return fmt.Errorf("agent-a's metrics reached %v: one gateway expected (forward::routing metrics: node)", got)
		}
		return nil
	})
	// agent-b's audit file goes to the owner too: the agent must hold it while the owner is down.
	agentB := newAgent("agent-b", "cluster-b", owner)
	agentB.start(t)
	testutil.Eventually(t, 20*time.Second, func() error {
		if hook.count("firing") == 0 {
			all, err := am.Alerts()
			return fmt.Errorf("no notification yet; Alertmanager holds %v (%v)", all, err)
		}
		return nil
	})
	step("the alert fired")
	watch := &alertWatch{}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchWG sync.WaitGroup
	watchWG.Go(func() { watch.run(watchCtx, am, "ReplicaLagHigh") })
	defer func() { stopWatch(); watchWG.Wait() }()

	// Spans before the kill: 60 traces, each with 4 spans in each of 10 requests, alternately
	// through each agent: each span once, each trace on one gateway, all three used.
	sinks := make([]*traceSink, len(gws))
	for i, g := range gws {
		sinks[i] = g.sink
	}
	spans := newSpanLoad(t, sinks, "http://"+agentA.otlpHTTP+"/v1/traces", "http://"+agentB.otlpHTTP+"/v1/traces")
	phase1 := spans.phase1()

	step("spans before the kill checked")
	// The load: both clusters' webhooks over the three gateways, both agents' audit files, spans
	// through both agents; the owner of agent-a's metrics is SIGKILLed 2s in.
	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	apiClient := newAPIServer(t, ca.CertFile, "").client
	hooks := []*hookSender{
		{cluster: "cluster-a", token: auditToken, client: apiClient, urls: webhooks},
		{cluster: "cluster-b", token: auditTokenB, client: apiClient, urls: webhooks},
	}
	for _, h := range hooks {
		load.Go(func() { h.run(ctx, 400) })
	}
	var fileMu sync.Mutex
	fileEvents := map[string][]string{} // cluster -> auditIDs written
	for _, spec := range []agentSpec{agentA, agentB} {
		load.Go(func() {
			for b := 0; b < 200 && ctx.Err() == nil; b++ {
				ids := make([]string, 10)
				for i := range ids {
					ids[i] = fmt.Sprintf("file-%s-b%d-e%d", spec.cluster, b, i)
				}
				if err := appendAuditFile(spec.auditLog, ids); err != nil {
					t.Error(err)
					return
				}
				fileMu.Lock()
				fileEvents[spec.cluster] = append(fileEvents[spec.cluster], ids...)
				fileMu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	spans.startPhase2(ctx, &load)
	loadFrom := time.Now()

	testutil.Eventually(t, 20*time.Second, func() error {
		for _, h := range hooks {
			if len(h.doubledIDs()) == 0 {
				return fmt.Errorf("no batch of %s taken by two gateways yet", h.cluster)
			}
		}
		return nil
	})
	time.Sleep(time.Until(loadFrom.Add(2 * time.Second)))
	before := map[*soGateway]float64{}
	for _, g := range gws {
		before[g] = g.metricPoints()
	}
	require.NoError(t, owner.proc.Cmd.Process.Kill()) // SIGKILL, mid-load
	killedAt := time.Now()
	spans.killed(killedAt)
	_, _ = owner.proc.Stop(5 * time.Second)
	step("SIGKILLed " + owner.name)
	var takeover time.Duration
	testutil.Eventually(t, soEndsAt, func() error { // agent-a's node moves to another gateway
		for _, g := range gws {
			if g != owner && g.metricPoints() > before[g] {
				takeover = time.Since(killedAt)
				return nil
			}
		}
		return fmt.Errorf("no other gateway took agent-a's metrics")
	})
	time.Sleep(4*time.Second - time.Since(killedAt))
	stopLoad()
	load.Wait()
	require.False(t, t.Failed())
	// Past the dead replica's endsAt: only the new owner keeps the alert active.
	time.Sleep(time.Until(killedAt.Add(soEndsAt + 3*time.Second)))
	require.Zero(t, watch.gap(), "the alert left Alertmanager after its gateway died")

	// Traces sent after the kill met on one surviving gateway each.
	spans.checkAfterKill(slices.Index(gws, owner))

	step("traces after the kill checked")
	owner.start(t) // restarted on its volume: what it acknowledged drains
	restartedAt := time.Now()

	// Every acknowledged event once in OpenSearch (the killed gateway's included, once it is back).
	acked := map[string][]string{} // cluster -> auditIDs
	sent := map[string]bool{}      // cluster:auditID
	for _, h := range hooks {
		h.mu.Lock()
		acked[h.cluster] = append(acked[h.cluster], h.acked...)
		for _, id := range h.sent {
			sent[h.cluster+":"+id] = true
		}
		h.mu.Unlock()
	}
	fileMu.Lock()
	for c, ids := range fileEvents {
		acked[c] = append(acked[c], ids...)
		for _, id := range ids {
			sent[c+":"+id] = true
		}
	}
	fileMu.Unlock()
	total := 0
	for c, ids := range acked {
		require.NotEmpty(t, ids, "cluster %s", c)
		total += len(ids)
	}
	// docsOf maps each event (cluster:auditID) to its documents in OpenSearch, in any index.
	docsOf := func() map[string][]string {
		search.Mu.Lock()
		defer search.Mu.Unlock()
		out := map[string][]string{}
		for idx, byID := range search.Docs {
			for id := range byID {
				parts := strings.SplitN(id, ":", 4) // cluster:auditID:stage:content
				ev := parts[0] + ":" + parts[1]
				out[ev] = append(out[ev], idx+"/"+id)
			}
		}
		return out
	}
	testutil.Eventually(t, 90*time.Second, func() error {
		got := docsOf()
		for c, ids := range acked {
			for _, id := range ids {
				if n := len(got[c+":"+id]); n != 1 {
					return fmt.Errorf("acknowledged event %s of %s: %d documents in OpenSearch", id, c, n)
				}
			}
		}
		return nil
	})
	step("OpenSearch has every acknowledged event")
	docs := 0
	for ev, ids := range docsOf() {
		require.True(t, sent[ev], "documents %v: the event was never sent", ids)
		require.Len(t, ids, 1, "event %s has several documents", ev)
		require.True(t, strings.HasPrefix(ids[0], "vigil-audit-2026.11.22/") && strings.Contains(ids[0], ":ResponseComplete:"), ids[0])
		docs++
	}

	// Every acknowledged span delivered, once the killed gateway drained its queue.
	spans.checkDelivered(phase1)
	// The alert stayed one alert, always active, paged once, through the kill and the restart.
	time.Sleep(time.Until(restartedAt.Add(3 * time.Second)))
	stopWatch()
	watchWG.Wait()
	require.Zero(t, watch.gap(), "the alert left Alertmanager")
	require.Equal(t, 1, watch.maxAlerts, "the gateways' alerts are one alert in Alertmanager")
	require.Zero(t, watch.errs, "Alertmanager's API failed")
	require.Equal(t, 1, hook.count("firing"), "one page")
	require.Zero(t, hook.count("resolved"))

	step("spans delivered, alert checked")
	// A clean stop writes every replica's open archive objects and seals its chains.
	for _, g := range gws {
		_, err := g.proc.Stop(30 * time.Second)
		require.NoError(t, err, g.name)
	}
	step("gateways stopped")
	s3 := []string{"--s3-bucket", "audit", "--s3-endpoint", m.Endpoint, "--s3-insecure"}
	for c, ids := range acked {
		file := filepath.Join(t.TempDir(), c+".ndjson")
		_, errOut, err := executeSplit(t, append([]string{"archive", "export", fmt.Sprintf(`{cluster=%q}`, c), "--out", file}, s3...)...)
		require.NoError(t, err, errOut)
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		counts := map[string]int{}
		for _, l := range lines(string(data)) {
			var e struct{ AuditID, Stage string }
			require.NoError(t, json.Unmarshal([]byte(l), &e))
			require.Equal(t, "ResponseComplete", e.Stage)
			require.True(t, sent[c+":"+e.AuditID], "archived event %s of %s was never sent", e.AuditID, c)
			counts[e.AuditID]++
		}
		for id, n := range counts {
			require.Equal(t, 1, n, "event %s of %s in the merged archive %d times", id, c, n)
		}
		for _, id := range ids {
			require.Equal(t, 1, counts[id], "acknowledged event %s of %s not in the merged archive", id, c)
		}
	}
	// Underneath, each writer's chain holds an event at most once; an event a webhook re-sent to
	// another gateway can be in two chains, and the merged view above reported it once.
	inChains := chainCounts(t, &archive.BucketConfig{S3: &archive.S3Config{Bucket: "audit", Endpoint: m.Endpoint,
		AccessKey: m.AccessKey, SecretKey: configopaque.String(m.SecretKey), Insecure: true}})
	twice := 0
	for ev, perWriter := range inChains {
		for w, n := range perWriter {
			require.Equal(t, 1, n, "event %s in %s's chain %d times", ev, w, n)
		}
		if len(perWriter) > 1 {
			twice++
		}
	}
	doubled := 0
	for _, h := range hooks {
		for _, id := range h.doubledIDs() {
			require.Len(t, inChains[h.cluster+":"+id], 2, "event %s of %s was taken by two gateways", id, h.cluster)
			doubled++
		}
	}
	require.Positive(t, doubled)
	out, _, err := executeSplit(t, append([]string{"archive", "verify", "-o", "json"}, s3...)...)
	require.NoError(t, err, out)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.True(t, rep.OK)
	chains := map[string]int{}
	for _, s := range rep.Streams {
		require.Empty(t, s.Problems, "%s/%s/%s", s.Tenant, s.Cluster, s.Writer)
		chains[s.Cluster+"/"+s.Writer] = s.Entries
	}
	for _, c := range []string{"cluster-a", "cluster-b"} {
		for _, g := range gws {
			require.Positive(t, chains[c+"/"+g.name], "%s's chain of %s verified: %v", g.name, c, chains)
		}
	}
	t.Logf("%s SIGKILLed mid-load and restarted: %d acknowledged audit events of 2 clusters (%d sent), each once in OpenSearch (%d documents) and in the merged archive; %d in two writers' chains (%d sent to two on purpose); %d chains verified %v; agent-a's metrics moved to another gateway %s after the kill, the alert never left Alertmanager; %s; %s in all",
		owner.name, total, len(sent), docs, twice, doubled, len(rep.Streams), chains, takeover.Round(10*time.Millisecond), spans.summary(), time.Since(began).Round(time.Second))
}
