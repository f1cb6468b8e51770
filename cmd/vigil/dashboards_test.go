package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/vigil-obs/vigil/internal/opensearchtest"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// dashboardQueries returns every query of the shipped dashboards over vigil's own metrics (panels inside rows too), by
// dashboard file and panel title.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../dashboards/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	type panel struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			UID    string            `json:"uid"`
			Title  string            `json:"title"`
			Tags   []string          `json:"tags"`
			Panels []json.RawMessage `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &d), f)
		require.NotEmpty(t, d.UID, f)
		require.NotEmpty(t, d.Title, f)
		if slices.Contains(d.Tags, correlationTag) {
			continue // over the clusters' data in the backends: correlationQueries
		}
		var walk func([]json.RawMessage)
		walk = func(ps []json.RawMessage) {
			for _, raw := range ps {
				var p panel
				require.NoError(t, json.Unmarshal(raw, &p), f)
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				require.NotNil(t, p.Datasource, "%s: panel %q has no data source", f, p.Title)
				require.Equal(t, "${datasource}", p.Datasource.UID, "%s: panel %q: use the dashboard's data source variable", f, p.Title)
				require.NotEmpty(t, p.Targets, "%s: panel %q has no query", f, p.Title)
				for i, tg := range p.Targets {
					out[fmt.Sprintf("%s: %s [%d]", filepath.Base(f), p.Title, i)] = tg.Expr
				}
			}
		}
		walk(d.Panels)
	}
	// The self-monitoring rules shipped beside the dashboards query vigil's metrics too.
	ruleFiles, err := filepath.Glob("../../dashboards/rules/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, ruleFiles)
	for _, f := range ruleFiles {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, rulefiles.Parser, nil)
		require.Empty(t, errs, f)
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				out[fmt.Sprintf("%s: %s/%s%s", filepath.Base(f), g.Name, r.Alert, r.Record)] = r.Expr
			}
		}
	}
	return out
}

// dashboardMetrics parses every dashboard query with Prometheus's parser (Grafana's variables
// replaced as Grafana would) and returns the metric names they select.
func dashboardMetrics(t *testing.T) map[string][]string {
	t.Helper()
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__range", "6h", "$__interval", "1m", `"$job"`, `".+"`)
	names := map[string][]string{}
	for where, q := range dashboardQueries(t) {
		expr, err := rulefiles.Parser.ParseExpr(grafana.Replace(q))
		require.NoError(t, err, "%s: %s", where, q)
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				for _, m := range vs.LabelMatchers {
					if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
						names[m.Value] = append(names[m.Value], where)
					}
				}
			}
			return nil
		})
	}
	return names
}

// scrapedNames are the metric names on a /metrics page.
func scrapedNames(url string) (map[string]bool, error) {
	resp, err := http.Get(url) //nolint:noctx // test
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, sc.Err()
}

// TestDashboardsUseWhatVigilExports runs the gateway through what the dashboards show — audit
// batches (one document refused by OpenSearch for good), agents' metrics over mTLS (one series a
// rule needs, one it does not), an archive object and its seal, a rule file reload, a real agent
// relaying logs — and checks that every metric the dashboards query is on the gateway's or the
// agent's /metrics page.
func TestDashboardsUseWhatVigilExports(t *testing.T) {
	want := dashboardMetrics(t)
	require.Greater(t, len(want), 20)

	ca := testutil.NewCA(t)
	search := opensearchtest.Start(t)
	search.Mu.Lock()
	search.ItemFault = func(_, id string, _ []byte) (int, string) {
		if strings.Contains(id, "refused") {
			return http.StatusBadRequest, "mapper_parsing_exception"
		}
		return 0, ""
	}
	search.Mu.Unlock()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	writeRules := func(threshold int) {
		require.NoError(t, os.WriteFile(rules, fmt.Appendf(nil, `groups:
  - name: lag
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > %d
`, threshold), 0o600))
	}
	writeRules(30)
	g := newAuditGateway(t, ca, search.URL, fmt.Sprintf(`
exporters:
  archive:
    max_object_age: 1s
    seal_interval: 1s
  alert:
    rule_files: ["builtin:*.yaml", %q]
    reload_interval: 200ms
    alertmanagers: ["http://127.0.0.1:1"] # refuses: the notifier's failure metrics
`, rules))
	var metricsURL, otlpGRPC string
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "VIGIL_METRICS_PORT="); ok {
			metricsURL = "http://127.0.0.1:" + v + "/metrics"
		}
		if v, ok := strings.CutPrefix(kv, "VIGIL_OTLP_GRPC_ENDPOINT="); ok {
			otlpGRPC = v
		}
	}
	gw := g.start(t)

	api := newAPIServer(t, ca.CertFile, g.webhook)
	stop := make(chan struct{})
	defer close(stop)
	api.send([]string{"dash-1", "dash-2", "dash-refused"}, stop)
	// An event about a secret, which the redact processor looks at.
	secret := strings.Replace(string(eventList([]string{"dash-secret"})), `"resource":"pods"`, `"resource":"secrets"`, 1)
	req, err := http.NewRequest(http.MethodPost, g.webhook, strings.NewReader(secret))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+auditToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := api.client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// An agent's metrics: its client certificate names cluster-a.
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	agent := ca.Issue(t, "vigil-agent.cluster-a")
	pair, err := tls.LoadX509KeyPair(agent.CertFile, agent.KeyFile)
	require.NoError(t, err)
	conn, err := grpc.NewClient(otlpGRPC, grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})))
	require.NoError(t, err)
	defer conn.Close()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "postgres")
	rm.Resource().Attributes().PutStr("service.instance.id", "db-1:9187")
	sm := rm.ScopeMetrics().AppendEmpty()
	for _, name := range []string{"pg.replication.lag", "some.other.gauge"} {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetUnit("s")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		dp.SetDoubleValue(3)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	require.NoError(t, err)

	// A real agent, whose relay forwards to the gateway: the relay panels read its /metrics page.
	spec := newAgentSpec(t, "agent", "cluster-a", agent, ca.CertFile, otlpGRPC)
	spec.start(t)
	sendSDKLogs(t, spec.otlpHTTP, 5, "dash-agent")
	agentMetricsURL := "http://127.0.0.1:" + spec.metricsPort + "/metrics"

	time.Sleep(500 * time.Millisecond)
	writeRules(40) // a reload

	var missing []string
	deadline := time.Now().Add(45 * time.Second)
	for {
		have, err := scrapedNames(metricsURL)
		if agentHas, agentErr := scrapedNames(agentMetricsURL); agentErr == nil && err == nil {
			maps.Copy(have, agentHas)
		}
		missing = missing[:0]
		for name := range want {
			if err != nil || !have[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	slices.Sort(missing)
	for _, name := range missing {
		t.Errorf("%s is not exported by vigil; used by %s", name, strings.Join(want[name], "; "))
	}
	require.NotContains(t, gw.Output(), "panic")
}
