package alertexporter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// amRecorder is an HTTP server that records what is POSTed to /api/v2/alerts, as Alertmanager
// receives it.
type amRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	alerts []postedAlert
}

type postedAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func newAMRecorder(t *testing.T) *amRecorder {
	t.Helper()
	r := &amRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, req)
			return
		}
		var batch []postedAlert
		if err := json.NewDecoder(req.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.alerts = append(r.alerts, batch...)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *amRecorder) received(name string) []postedAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []postedAlert
	for _, a := range r.alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

func writeRuleFile(t *testing.T, dir, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
}

// A recording rule's result, appended to the store, wakes the group (in another file) that alerts
// on it.
func TestRecordingRulesFeedOtherGroups(t *testing.T) {
	am := newAMRecorder(t)
	dir := t.TempDir()
	writeRuleFile(t, dir, "1-record.yaml", `groups:
  - name: record
    rules:
      - record: job:pg_replication_lag_seconds:max
        expr: max by (job) (pg_replication_lag_seconds)
`)
	writeRuleFile(t, dir, "2-alert.yaml", `groups:
  - name: alert
    rules:
      - alert: JobLagging
        expr: job:pg_replication_lag_seconds:max > 30
        annotations:
          summary: "{{ $labels.job }}: {{ $value }}s"
`)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{filepath.Join(dir, "*.yaml")}
	cfg.Alertmanagers = []string{am.URL}
	cfg.MinEvalInterval = 50 * time.Millisecond
	e := startExporter(t, cfg)
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 40, time.Now())))
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(am.received("JobLagging")) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	got := am.received("JobLagging")[0]
	require.Equal(t, map[string]string{"alertname": "JobLagging", "job": "postgres"}, got.Labels)
	require.Equal(t, "postgres: 40s", got.Annotations["summary"])
}

func counterValues(t *testing.T, tel *componenttest.Telemetry, name, attr string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return map[string]int64{}
	}
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value(attrKey(attr))
		out[v.AsString()] += dp.Value
	}
	return out
}

// Arrivals are coalesced: a group is evaluated at most once per min_eval_interval, and samples
// that are not needed or over max_series are counted by reason.
func TestEvaluationThrottlingAndDiscards(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagRules)}
	cfg.MinEvalInterval = 400 * time.Millisecond
	cfg.MaxSeries = 1
	exp, tel := startMeasured(t, cfg)

	start := time.Now()
	for i := range 20 {
		now := start.Add(time.Duration(i) * 50 * time.Millisecond)
		time.Sleep(time.Until(now))
		require.NoError(t, exp.ConsumeMetrics(context.Background(), lag("db-1:9187", float64(i), now)))
	}
	require.NoError(t, exp.ConsumeMetrics(context.Background(), lag("db-2:9187", 1, time.Now()))) // over max_series
	md := lag("db-1:9187", 1, start)                                                              // out of order
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("not.selected")       // and not needed
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), lag("db-1:9187", 1, start)))
	time.Sleep(500 * time.Millisecond)
	elapsed := time.Since(start)
	evals := counterValues(t, tel, "vigil_alert_group_evaluations", "rule_group")
	require.Len(t, evals, 1)
	for group, n := range evals {
		require.Contains(t, group, "replication")
		// The first arrival is evaluated at once, then at most one evaluation per 400ms; samples
		// arrived for ~1s, so at least one more.
		require.LessOrEqual(t, n, int64(elapsed/(400*time.Millisecond))+1, "evaluations of %s in %s", group, elapsed)
		require.GreaterOrEqual(t, n, int64(2))
	}
	require.Equal(t, map[string]int64{reasonSeriesLimit: 1, reasonNotNeeded: 1, reasonOutOfOrder: 1},
		counterValues(t, tel, "vigil_alert_samples_discarded", "reason"))
	require.Equal(t, map[string]int64{"": 20}, counterValues(t, tel, "vigil_alert_samples_appended", ""))
}

func TestLifecycle(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagRules)}
	exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.EqualError(t, exp.ConsumeMetrics(context.Background(), lag("x", 1, time.Now())),
		"cannot accept metrics: the alert exporter is not started")
	require.NoError(t, exp.Shutdown(context.Background()), "shutdown before start")
	require.NoError(t, exp.Shutdown(context.Background()), "twice")
	require.Error(t, exp.Start(context.Background(), componenttest.NewNopHost()), "start after shutdown")

	exp, err = NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, exp.Shutdown(context.Background()))
}

func attrKey(s string) attribute.Key { return attribute.Key(s) }

// A pending alert fires when its `for` ends, even when no sample arrives then: the group is
// evaluated at that time, not at its next interval.
func TestForEndsOnTimeWithoutNewSamples(t *testing.T) {
	am := newAMRecorder(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, `groups:
  - name: lag
    rules:
      - alert: ReplicaLagHigh
        expr: pg_replication_lag_seconds > 30
        for: 2s
`)}
	cfg.Alertmanagers = []string{am.URL}
	cfg.EvaluationInterval = time.Minute
	e := startExporter(t, cfg)
	start := time.Now()
	require.NoError(t, e.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, start))) // the only sample
	eventually(t, am, "ReplicaLagHigh")
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 2*time.Second)
	require.Less(t, took, 3500*time.Millisecond, "fired %s after the sample; for is 2s", took)
}
