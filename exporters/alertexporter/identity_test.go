package alertexporter

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// identityClaims is a resource of cluster A (namespace db, pod pg-0, service postgres/pg-0:9187)
// holding one metric of each kind whose data point attributes claim cluster B and another
// namespace, pod, node, job and instance; the scope claims B too.
func identityClaims(scraped bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "postgres")
	res.PutStr("service.instance.id", "pg-0:9187")
	res.PutStr("k8s.cluster.name", "cluster-a")
	res.PutStr("k8s.namespace.name", "db")
	res.PutStr("k8s.pod.name", "pg-0")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("pg.exporter")
	sm.Scope().Attributes().PutStr("k8s.cluster.name", "cluster-b")
	claims := func(a pcommon.Map) {
		for k, v := range map[string]string{
			"k8s.cluster.name": "cluster-b", "k8s.namespace.name": "kube-system", "k8s.pod.name": "etcd-0",
			"k8s.node.name": "node-b", "k8s_cluster_name": "cluster-c", "job": "etcd", "instance": "etcd-0:2379",
			"application_name": "replica-1",
		} {
			a.PutStr(k, v)
		}
	}
	metric := func(name string) pmetric.Metric {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		if scraped {
			m.Metadata().PutStr(promTypeKey, "gauge")
		}
		return m
	}
	g := metric("pg_lag").SetEmptyGauge().DataPoints().AppendEmpty()
	g.SetDoubleValue(45)
	g.SetTimestamp(5_000_000_000)
	claims(g.Attributes())
	s := metric("pg_xacts").SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdp := s.DataPoints().AppendEmpty()
	sdp.SetIntValue(3)
	sdp.SetTimestamp(5_000_000_000)
	claims(sdp.Attributes())
	h := metric("pg_query").SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.DataPoints().AppendEmpty()
	hdp.SetCount(1)
	hdp.SetSum(0.5)
	hdp.SetTimestamp(5_000_000_000)
	claims(hdp.Attributes())
	q := metric("pg_latency").SetEmptySummary().DataPoints().AppendEmpty()
	q.SetCount(1)
	q.SetSum(0.5)
	q.QuantileValues().AppendEmpty().SetQuantile(0.5)
	q.SetTimestamp(5_000_000_000)
	claims(q.Attributes())
	return md
}

// Identity labels come from the resource alone: no data point attribute (of any metric type,
// OTLP or scraped) and no scope attribute replaces job, instance or a promoted resource
// attribute, whether the resource has it (cluster, namespace, pod) or not (node).
func TestConvertIdentityComesFromTheResource(t *testing.T) {
	for _, scraped := range []bool{false, true} {
		t.Run(fmt.Sprintf("scraped=%v", scraped), func(t *testing.T) {
			c := newConverter(createDefaultConfig().PromoteResourceAttributes)
			var series []string
			c.emit = func(l labels.Labels, _ int64, _ float64) {
				require.Equal(t, "cluster-a", l.Get("k8s_cluster_name"), "%s", l)
				require.Equal(t, "db", l.Get("k8s_namespace_name"), "%s", l)
				require.Equal(t, "pg-0", l.Get("k8s_pod_name"), "%s", l)
				require.Empty(t, l.Get("k8s_node_name"), "%s", l)
				require.Equal(t, "postgres", l.Get("job"), "%s", l)
				require.Equal(t, "pg-0:9187", l.Get("instance"), "%s", l)
				require.Equal(t, "replica-1", l.Get("application_name"), "other attributes stay: %s", l)
				series = append(series, l.Get("__name__"))
			}
			c.discard = func(reason string, n int) { t.Fatalf("discarded %d: %s", n, reason) }
			c.convert(identityClaims(scraped))
			sort.Strings(series)
			require.Len(t, series, 8, "%v", series) // gauge, sum, histogram (sum, count, +Inf), summary (sum, count, 0.5)
			require.Equal(t, 8, c.overridden)
		})
	}
}

// Through the exporter: a data point of cluster A's resource that claims cluster B neither fires
// an alert labelled B nor writes into B's series; B's own samples keep their alert.
func TestDataPointCannotWriteAsAnotherCluster(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, `groups:
  - name: replication
    rules:
      - alert: ReplicaLagHigh
        expr: max by (k8s_cluster_name) (pg_replication_lag_seconds) > 30
`)}
	cfg.MinEvalInterval = 10 * time.Millisecond
	e, tel := startMeasured(t, cfg)

	spoof := lag("db-1:9187", 45, time.Now())
	rm := spoof.ResourceMetrics().At(0)
	rm.Resource().Attributes().PutStr("k8s.cluster.name", "cluster-a")
	dp := rm.ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0)
	dp.Attributes().PutStr("k8s.cluster.name", "cluster-b")
	require.NoError(t, e.ConsumeMetrics(context.Background(), spoof))
	healthy := lag("db-2:9187", 1, time.Now())
	healthy.ResourceMetrics().At(0).Resource().Attributes().PutStr("k8s.cluster.name", "cluster-b")
	require.NoError(t, e.ConsumeMetrics(context.Background(), healthy))

	active := func() map[string]string {
		out := map[string]string{}
		for _, g := range e.gen.Load().groups {
			for _, r := range g.Rules() {
				for _, a := range r.(*rules.AlertingRule).ActiveAlerts() {
					out[a.Labels.Get("k8s_cluster_name")] = a.State.String()
				}
			}
		}
		return out
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := active(); len(got) != 1 || got["cluster-a"] != "firing" {
			return fmt.Errorf("active alerts by cluster: %v", got)
		}
		return nil
	})
	q, err := e.store.Querier(0, time.Now().Add(time.Minute).UnixMilli())
	require.NoError(t, err)
	values, _, err := q.LabelValues(context.Background(), "k8s_cluster_name", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"cluster-a", "cluster-b"}, values)
	ss := q.Select(context.Background(), true, nil,
		labels.MustNewMatcher(labels.MatchEqual, "k8s_cluster_name", "cluster-b"))
	for ss.Next() {
		require.Equal(t, "db-2:9187", ss.At().Labels().Get("instance"), "only cluster-b's own replica writes as cluster-b")
	}
	require.Equal(t, map[string]int64{"": 1}, counterValues(t, tel, "vigil_alert_identity_overrides_ignored", "reason"))
}
