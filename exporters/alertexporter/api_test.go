package alertexporter

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// Prometheus's own API client (what Grafana's Prometheus data source speaks) reads vigil's rules
// and alerts.
func TestReadAPIWithPrometheusClient(t *testing.T) {
	addr := testutil.FreeAddr(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, `groups:
  - name: replication
    interval: 30s
    rules:
      - record: job:pg_replication_lag_seconds:max
        expr: max by (job) (pg_replication_lag_seconds)
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 1h
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.instance }} lags"}
      - alert: ReplicaLagExtreme
        expr: pg_replication_lag_seconds > 40
`)}
	cfg.API.NetAddr.Endpoint = addr
	cfg.MinEvalInterval = 50 * time.Millisecond
	e := startExporter(t, cfg)
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, time.Now())))

	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	require.NoError(t, err)
	v1 := promv1.NewAPI(client)
	ctx := context.Background()
	var alerts promv1.AlertsResult
	testutil.Eventually(t, 5*time.Second, func() error {
		alerts, err = v1.Alerts(ctx)
		if err != nil {
			return err
		}
		if len(alerts.Alerts) != 2 {
			return fmt.Errorf("%d alerts", len(alerts.Alerts))
		}
		return nil
	})
	states := map[string]promv1.AlertState{}
	for _, a := range alerts.Alerts {
		states[string(a.Labels["alertname"])] = a.State
		require.Equal(t, model.LabelValue("db-1:9187"), a.Labels["instance"])
		require.Equal(t, "4.5e+01", a.Value)
	}
	require.Equal(t, map[string]promv1.AlertState{"ReplicaLagHigh": promv1.AlertStatePending, "ReplicaLagExtreme": promv1.AlertStateFiring}, states)

	rules, err := v1.Rules(ctx, nil)
	require.NoError(t, err)
	require.Len(t, rules.Groups, 1)
	g := rules.Groups[0]
	require.Equal(t, "replication", g.Name)
	require.Equal(t, 30.0, g.Interval)
	require.Len(t, g.Rules, 3)
	rec, ok := g.Rules[0].(promv1.RecordingRule)
	require.True(t, ok, "%T", g.Rules[0])
	require.Equal(t, "job:pg_replication_lag_seconds:max", rec.Name)
	require.EqualValues(t, "ok", rec.Health)
	high, ok := g.Rules[1].(promv1.AlertingRule)
	require.True(t, ok, "%T", g.Rules[1])
	require.Equal(t, "ReplicaLagHigh", high.Name)
	require.Equal(t, "pg_replication_lag_seconds > 30", high.Query)
	require.Equal(t, 3600.0, high.Duration)
	require.Equal(t, "pending", high.State)
	require.Equal(t, model.LabelValue("warning"), high.Labels["severity"])
	require.Equal(t, model.LabelValue("db-1:9187 lags"), high.Alerts[0].Annotations["summary"])

	resp, err := http.Get("http://" + addr + "/api/v1/rules?type=nonsense") //nolint:noctx // test
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// Queries over the series store through Prometheus's API client: what a Grafana Prometheus data
// source sends to test itself and to chart what the rules see.
func TestQueryAPIWithPrometheusClient(t *testing.T) {
	addr := testutil.FreeAddr(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagHighRule)}
	cfg.API.NetAddr.Endpoint = addr
	e := startExporter(t, cfg)
	now := time.Now()
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, now.Add(-time.Minute))))
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 12, now)))
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-2:9187", 3, now)))

	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	require.NoError(t, err)
	v1 := promv1.NewAPI(client)
	ctx := context.Background()

	v, _, err := v1.Query(ctx, "1+1", now) // Grafana's data source test
	require.NoError(t, err)
	require.Equal(t, "scalar: 2 @[", v.String()[:len("scalar: 2 @[")])

	v, _, err = v1.Query(ctx, `max(pg_replication_lag_seconds)`, now)
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok, "%T", v)
	require.Len(t, vec, 1)
	require.Equal(t, model.SampleValue(12), vec[0].Value)

	v, _, err = v1.QueryRange(ctx, `pg_replication_lag_seconds{instance="db-1:9187"}`,
		promv1.Range{Start: now.Add(-time.Minute), End: now, Step: 30 * time.Second})
	require.NoError(t, err)
	m, ok := v.(model.Matrix)
	require.True(t, ok, "%T", v)
	require.Len(t, m, 1)
	var values []model.SampleValue
	for _, p := range m[0].Values {
		values = append(values, p.Value)
	}
	require.Equal(t, []model.SampleValue{45, 45, 12}, values)

	names, _, err := v1.LabelValues(ctx, "instance", nil, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, model.LabelValues{"db-1:9187", "db-2:9187"}, names)
	labelNames, _, err := v1.LabelNames(ctx, []string{`pg_replication_lag_seconds`}, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Contains(t, labelNames, model.LabelName("instance"))

	_, _, err = v1.Query(ctx, "rate(", now)
	require.ErrorContains(t, err, "bad_data")
	_, _, err = v1.QueryRange(ctx, "up", promv1.Range{Start: now.Add(-24 * time.Hour), End: now, Step: time.Second})
	require.ErrorContains(t, err, "more than 11000 points")
	resp, err := http.Get("http://" + addr + "/api/v1/query_range?query=up&start=yesterday&end=1&step=1") //nolint:noctx // test
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// The api endpoint's readers guard every route: rules, alerts, queries and buildinfo.
func TestReadAPIReaders(t *testing.T) {
	addr := testutil.FreeAddr(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagHighRule)}
	cfg.API.NetAddr.Endpoint = addr
	const token = "grafana-token-0123456789"
	cfg.Readers = []httpapiextension.Reader{{Name: "grafana", BearerTokens: []configopaque.String{token}}}
	require.NoError(t, cfg.Validate())
	startExporter(t, cfg)

	for _, path := range []string{"/api/v1/rules", "/api/v1/alerts", "/api/v1/query?query=1", "/api/v1/status/buildinfo"} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without a token", path)

		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode, "%s with the token", path)
	}

	client, err := api.NewClient(api.Config{Address: "http://" + addr,
		RoundTripper: config.NewAuthorizationCredentialsRoundTripper("Bearer", config.NewInlineSecret(token), api.DefaultRoundTripper)})
	require.NoError(t, err)
	rules, err := promv1.NewAPI(client).Rules(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, rules.Groups, 1)
}

// An api endpoint beyond loopback needs readers: validate says so before start would.
func TestReadAPIBeyondLoopbackNeedsReaders(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{"rules.yaml"}
	cfg.API.NetAddr.Endpoint = "0.0.0.0:9096"
	err := cfg.Validate()
	require.ErrorContains(t, err, `readers: must be set when api.endpoint "0.0.0.0:9096" is not a loopback address`)
	cfg.Readers = []httpapiextension.Reader{{Name: "grafana", BearerTokens: []configopaque.String{"grafana-token-0123456789"}}}
	require.NoError(t, cfg.Validate())
	cfg.Readers = nil
	cfg.API.NetAddr.Endpoint = "127.0.0.1:9096"
	require.NoError(t, cfg.Validate())
}

// lagHighRule is a rule file of one alert on pg_replication_lag_seconds.
const lagHighRule = `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
`
