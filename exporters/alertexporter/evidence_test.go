package alertexporter

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mathrand "math/rand"
	"math/rand/v2"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/testutil"
	"github.com/vigil-obs/vigil/storage/series"
)

func newIndex(t testing.TB) (component.ID, component.Component, *evidenceextension.Index) {
	t.Helper()
	f := evidenceextension.NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	require.NoError(t, err)
	x, ok := ext.(evidenceextension.Provider)
	require.True(t, ok)
	return component.NewID(f.Type()), ext, x.Index()
}

// withExemplar adds an exemplar with trace to every data point of md's gauges.
func withExemplar(md pmetric.Metrics, trace string) pmetric.Metrics {
	var id pcommon.TraceID
	b, _ := hex.DecodeString(trace)
	copy(id[:], b)
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				for _, dp := range m.Gauge().DataPoints().All() {
					ex := dp.Exemplars().AppendEmpty()
					ex.SetTraceID(id)
					ex.SetDoubleValue(dp.DoubleValue())
					ex.SetTimestamp(dp.Timestamp())
				}
			}
		}
	}
	return md
}

// TestAlertCarriesItsEvidenceToRealAlertmanager: the replica's warning lines (recorded in the
// evidence index) and the trace IDs of the lag series' exemplars reach a real Alertmanager as
// annotations of the lag alert, with Grafana Explore links; the other replica's lines do not; a
// rule with vigil_evidence: none carries nothing.
func TestAlertCarriesItsEvidenceToRealAlertmanager(t *testing.T) {
	am := testutil.StartAlertmanager(t)
	id, ext, index := newIndex(t)
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagRules+`
      - alert: ReplicaLagQuiet
        expr: max by (k8s_cluster_name, instance) (pg_replication_lag_seconds) > 30
        labels:
          vigil_evidence: none
  - name: quiet-group
    labels: {vigil_evidence: none}
    rules:
      - alert: ReplicaLagGroupQuiet
        expr: max by (k8s_cluster_name, instance) (pg_replication_lag_seconds) > 30
  - name: disabled-group
    rules:
      - alert: ReplicaLagDisabledGroup
        expr: max by (k8s_cluster_name, instance) (pg_replication_lag_seconds) > 30
`)}
	cfg.Evidence.DisabledGroups = []string{"disabled-group"}
	cfg.Alertmanagers = []string{am.URL}
	cfg.MinEvalInterval = 100 * time.Millisecond
	// Re-sent every second: a send before the notifier knows its Alertmanager (a loaded machine)
	// is dropped by Prometheus's notifier, and the next one must come soon.
	cfg.EvaluationInterval, cfg.ResendDelay = 2*time.Second, time.Second
	cfg.Evidence.Extension = &id
	cfg.Evidence.GrafanaURL = "https://grafana.example.com/"
	cfg.Evidence.LokiDatasourceUID = "loki-uid"
	cfg.Evidence.TracesDatasourceUID = "tempo-uid"
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		set.Logger = zap.Must(zap.NewDevelopment())
	}
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	e := exp.(*alertExporter)
	require.NoError(t, e.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ext})))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })

	now := time.Now()
	replica := evidenceextension.Resource{Cluster: "prod-eu", Service: "postgres", Instance: "db-1:9187"}
	other := evidenceextension.Resource{Cluster: "prod-eu", Service: "postgres", Instance: "db-2:9187"}
	index.Record(replica, now.Add(-2*time.Second), "warn", "WARNING: canceling statement due to conflict with recovery")
	index.Record(replica, now.Add(-time.Second), "error", "FATAL: could not receive data from WAL stream")
	index.Record(other, now, "error", "the other replica")
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	require.NoError(t, e.ConsumeMetrics(context.Background(), withExemplar(lag("db-1:9187", 45, now), trace)))

	var got *testutil.AlertmanagerAlert
	testutil.Eventually(t, 30*time.Second, func() error { // generous: the machine may be loaded
		got, err = findAlert(am, "ReplicaLagHigh")
		return err
	})
	logs := got.Annotations[AnnotationLogs]
	require.Contains(t, logs, "canceling statement due to conflict with recovery")
	require.Contains(t, logs, "error: FATAL: could not receive data from WAL stream")
	require.NotContains(t, logs, "the other replica")
	require.Less(t, strings.Index(logs, "canceling"), strings.Index(logs, "FATAL"), "oldest first")
	require.Equal(t, trace, got.Annotations[AnnotationTraceIDs])
	require.Equal(t, "replica db-1:9187 lags 45s", got.Annotations["summary"], "the rule's annotations stay")

	u, err := url.Parse(got.Annotations[AnnotationExploreURL])
	require.NoError(t, err)
	require.Equal(t, "grafana.example.com", u.Host)
	require.Equal(t, "/explore", u.Path)
	var panes map[string]struct {
		Datasource string           `json:"datasource"`
		Queries    []map[string]any `json:"queries"`
		Range      struct{ From, To string }
	}
	require.NoError(t, json.Unmarshal([]byte(u.Query().Get("panes")), &panes))
	require.Equal(t, "loki-uid", panes["vigil"].Datasource)
	require.Equal(t, `{cluster="prod-eu", service_name="postgres", level=~"warn|error|fatal"} | service_instance_id="db-1:9187"`,
		panes["vigil"].Queries[0]["expr"])
	require.Contains(t, got.Annotations[AnnotationTraceURL], url.QueryEscape(`"query":"`+trace+`"`))

	for _, name := range []string{"ReplicaLagQuiet", "ReplicaLagGroupQuiet", "ReplicaLagDisabledGroup"} {
		var quiet *testutil.AlertmanagerAlert
		testutil.Eventually(t, 10*time.Second, func() error {
			quiet, err = findAlert(am, name)
			return err
		})
		for k := range quiet.Annotations {
			require.False(t, strings.HasPrefix(k, "vigil_"), "%s: %s", name, k)
		}
	}
}

// randomLine is a log line of one of several shapes; the secret values it carries (in fields the
// redaction rules remove) are returned.
func randomLine(r *rand.Rand) (line string, secrets []string) {
	secret := func() string {
		const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		b := make([]byte, 12+r.IntN(40))
		for i := range b {
			b[i] = abc[r.IntN(len(abc))]
		}
		s := string(b)
		secrets = append(secrets, s)
		return s
	}
	filler := strings.Repeat("é ok ", r.IntN(200))
	switch r.IntN(6) {
	case 0:
		return `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"` + secret() + `"},"note":"` + filler + `"}`, secrets
	case 1:
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"update","objectRef":{"resource":"secrets","name":"db","apiVersion":"v1"},"requestObject":{"kind":"Secret","apiVersion":"v1","stringData":{"k":"` + secret() + `"}},"x":"` + filler + `"}`, secrets
	case 2:
		return `E1207 05:00:00 failed to sync secret db: data: map[k:` + secret() + `] ` + filler, secrets
	case 3:
		return `level=warn msg="token refresh failed" token=` + secret() + " " + filler, secrets
	case 4:
		return `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + secret() + `"}}`, secrets
	}
	return "WARN replica lagging " + filler, nil
}

// storeWithExemplars is a store holding the series up{k8s_pod_name="p-0"} with n exemplars.
func storeWithExemplars(t testing.TB, n int) *series.Store {
	t.Helper()
	expr, err := rulefiles.Parser.ParseExpr("up == 0")
	require.NoError(t, err)
	needs, err := series.NeedsOf(expr, 5*time.Minute, 0, 0)
	require.NoError(t, err)
	store, err := series.NewStore(series.Options{MaxSeries: 10, Needs: needs})
	require.NoError(t, err)
	l := labels.FromStrings("__name__", "up", "k8s_pod_name", "p-0")
	app := store.NewAppender()
	now := time.Now().UnixMilli()
	_, err = app.AppendSample(l, now, 0)
	require.NoError(t, err)
	for i := range n {
		_, err = app.AppendExemplar(0, l, exemplar.Exemplar{Labels: labels.FromStrings("trace_id", fmt.Sprintf("%032x", i+1)), Ts: now + int64(i)})
		require.NoError(t, err)
	}
	return store
}

type evidenceCase struct {
	Seed     uint64
	MaxBytes int
	Pods     int
	Lines    int
}

// Generate implements quick.Generator.
func (evidenceCase) Generate(r *mathrand.Rand, _ int) reflect.Value {
	return reflect.ValueOf(evidenceCase{Seed: r.Uint64(), MaxBytes: 256 + r.Intn(8000), Pods: 1 + r.Intn(4), Lines: r.Intn(12)})
}

// Properties of the evidence annotations, for any log lines and byte bound: together they never
// exceed evidence.max_bytes; they never contain a value the redaction rules remove; the rule's
// own annotations are kept as they are.
func TestEvidenceAnnotationsProperties(t *testing.T) {
	check := func(c evidenceCase) bool {
		r := rand.New(rand.NewPCG(c.Seed, 1))
		_, _, index := newIndex(t)
		store := storeWithExemplars(t, r.IntN(4))
		cfg := createDefaultConfig().Evidence
		cfg.MaxBytes = c.MaxBytes
		cfg.GrafanaURL, cfg.LokiDatasourceUID, cfg.TracesDatasourceUID = "http://grafana:3000", "loki", "tempo"
		ev := newEvidence(cfg, index, func() *series.Store { return store })
		now := time.Now()
		var secrets []string
		for i := range c.Lines {
			line, s := randomLine(r)
			secrets = append(secrets, s...)
			index.Record(evidenceextension.Resource{Cluster: "c", Namespace: "ns", Pod: fmt.Sprintf("p-%d", r.IntN(c.Pods))},
				now.Add(time.Duration(i)*time.Millisecond), "error", line)
		}
		own := labels.FromStrings("summary", "lag", "runbook", strings.Repeat("r", r.IntN(300)))
		a := &rules.Alert{State: rules.StateFiring, ActiveAt: now, Labels: labels.FromStrings("alertname", "X", "k8s_cluster_name", "c",
			"k8s_namespace_name", "ns", "k8s_pod_name", "p-0"), Annotations: own}
		got := ev.annotate("up == 0", a)
		total := 0
		ok := true
		got.Range(func(l labels.Label) {
			if strings.HasPrefix(l.Name, "vigil_") {
				total += len(l.Name) + len(l.Value)
				for _, s := range secrets {
					if strings.Contains(l.Value, s) {
						t.Logf("annotation %s carries the secret %q", l.Name, s)
						ok = false
					}
				}
			} else if own.Get(l.Name) != l.Value {
				ok = false
			}
		})
		if total > c.MaxBytes {
			t.Logf("%d bytes of evidence > max_bytes %d", total, c.MaxBytes)
			return false
		}
		if n := strings.Count(got.Get(AnnotationTraceIDs), ",") + 1; got.Get(AnnotationTraceIDs) != "" && n > 3 {
			t.Logf("%d trace IDs", n)
			return false
		}
		if c.Lines > 0 && got.Get(AnnotationLogs) == "" && c.Pods == 1 && c.MaxBytes > 2048 {
			t.Logf("no lines although %d were recorded for the pod", c.Lines)
			return false
		}
		return ok
	}
	require.NoError(t, quick.Check(check, &quick.Config{MaxCount: 300}))
}

// The notification is not held for the evidence: the wrapped notify function hands every alert on
// at once, in order, in the same call (synchronously), resolved alerts untouched, even with the
// index at its default bound of 50,000 pods; and the evidence of one alert costs microseconds
// (BenchmarkEvidenceAnnotate).
func TestEvidenceNeverHoldsTheNotification(t *testing.T) {
	_, _, index := newIndex(t)
	now := time.Now()
	for i := range 50_000 {
		index.Record(evidenceextension.Resource{Cluster: "c", Namespace: fmt.Sprintf("ns-%d", i%100), Pod: fmt.Sprintf("p-%d", i)},
			now, "warn", "a warning line of some length, as applications write them")
	}
	store, err := series.NewStore(series.Options{MaxSeries: 10})
	require.NoError(t, err)
	ev := newEvidence(createDefaultConfig().Evidence, index, func() *series.Store { return store })
	var alerts []*rules.Alert
	for i := range 20 {
		a := &rules.Alert{State: rules.StateFiring, ActiveAt: now, Labels: labels.FromStrings("alertname", "X", "k8s_cluster_name", "c",
			"k8s_namespace_name", fmt.Sprintf("ns-%d", i), "k8s_pod_name", fmt.Sprintf("p-%d", i))}
		if i%5 == 0 {
			a.State, a.ResolvedAt = rules.StateInactive, now
		}
		alerts = append(alerts, a)
	}
	calls := 0
	var sent []*rules.Alert
	notify := ev.notifyFunc(func(_ context.Context, _ string, as ...*rules.Alert) { calls++; sent = as }, func(context.Context) string { return "g" })
	notify(context.Background(), "up == 0", alerts...)
	require.Equal(t, 1, calls, "sent in the same call")
	require.Len(t, sent, len(alerts))
	for i, a := range sent {
		require.Equal(t, alerts[i].Labels, a.Labels)
		if !alerts[i].ResolvedAt.IsZero() {
			require.Same(t, alerts[i], a, "a resolved alert is sent as it is")
			continue
		}
		require.NotEmpty(t, a.Annotations.Get(AnnotationLogs), "alert %d", i)
		require.Empty(t, alerts[i].Annotations.Get(AnnotationLogs), "the rule's alert is not modified")
	}
	// A namespace-wide alert walks the whole index: still well inside one evaluation.
	start := time.Now()
	ev.annotate("up == 0", &rules.Alert{ActiveAt: now, Labels: labels.FromStrings("k8s_cluster_name", "c", "k8s_namespace_name", "ns-1")})
	require.Less(t, time.Since(start), time.Second, "a walk of 50,000 pods")
}

func BenchmarkEvidenceAnnotate(b *testing.B) {
	_, _, index := newIndex(b)
	now := time.Now()
	for i := range 50_000 {
		for range 5 {
			index.Record(evidenceextension.Resource{Cluster: "c", Namespace: fmt.Sprintf("ns-%d", i%100), Pod: fmt.Sprintf("p-%d", i)},
				now, "warn", strings.Repeat("a warning line ", 30))
		}
	}
	store, err := series.NewStore(series.Options{MaxSeries: 10})
	require.NoError(b, err)
	cfg := createDefaultConfig().Evidence
	cfg.GrafanaURL, cfg.LokiDatasourceUID, cfg.TracesDatasourceUID = "http://grafana:3000", "loki", "tempo"
	ev := newEvidence(cfg, index, func() *series.Store { return store })
	for _, tc := range []struct {
		name string
		l    labels.Labels
	}{
		{"pod", labels.FromStrings("k8s_cluster_name", "c", "k8s_namespace_name", "ns-7", "k8s_pod_name", "p-7")},
		{"namespace", labels.FromStrings("k8s_cluster_name", "c", "k8s_namespace_name", "ns-7")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := &rules.Alert{ActiveAt: now, Labels: tc.l}
			b.ReportAllocs()
			for b.Loop() {
				ev.annotate("up == 0", a)
			}
		})
	}
}
