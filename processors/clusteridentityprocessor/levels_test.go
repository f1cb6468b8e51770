package clusteridentityprocessor

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// claim puts k8s.cluster.name = c into attrs; "-" leaves it out.
func claim(attrs pcommon.Map, c string) {
	if c != "-" {
		attrs.PutStr(ClusterAttribute, c)
	}
}

// measured returns processor settings whose counters the test reads.
func measured(t *testing.T) (processor.Settings, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	return set, tel
}

// count returns the sum of the counter's data points whose attributes include want.
func count(t *testing.T, tel *componenttest.Telemetry, name string, want map[string]string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for k, v := range want {
			got, _ := dp.Attributes.Value(attrKey(k))
			ok = ok && got.AsString() == v
		}
		if ok {
			n += dp.Value
		}
	}
	return n
}

// lowerClaims lists the items that arrived ("name") and every k8s.cluster.name below the
// resource ("name:scope=b", "name:item=a", "name:event=b", "name:exemplar=b").
type lowerClaims []string

func (l *lowerClaims) add(name string, level string, attrs pcommon.Map) {
	if v, ok := attrs.Get(ClusterAttribute); ok {
		*l = append(*l, fmt.Sprintf("%s:%s=%s", name, level, v.AsString()))
	}
}

func (l lowerClaims) sorted() []string { sort.Strings(l); return l }

// Per signal, every level below the resource: claims of another cluster in a scope's, an item's
// or its parts' attributes are refused with their items (reject) or removed (overwrite), counted
// as resource claims are; equal claims stay, empty claims go.
func TestLowerLevelClaims(t *testing.T) {
	type signal struct {
		name    string
		consume func(t *testing.T, set processor.Settings, cfg *Config) (error, []string)
		// arrived under reject / overwrite; refused under reject
		rejectKept, overwriteKept []string
		refused                   int64
		wantMsg                   string
	}
	signals := []signal{
		{
			name: "logs", consume: consumeLogs, refused: 4,
			rejectKept:    []string{"own", "own:item=a", "plain", "unset-claim"},
			overwriteKept: []string{"b-scope-1", "b-scope-2", "other", "own", "own:item=a", "plain", "resource-c", "unset-claim"},
			wantMsg:       `rejected 1 of 3 resources (1 logs) and 3 logs whose scope or own attributes claim another cluster: the credential of cluster "a" cannot write as k8s.cluster.name "b", "c"`,
		},
		{
			name: "metrics", consume: consumeMetrics, refused: 7,
			rejectKept:    []string{"gauge-own", "gauge-own:item=a", "gauge-plain", "sum-plain"},
			overwriteKept: []string{"exp-exemplar", "gauge-other", "gauge-own", "gauge-own:item=a", "gauge-plain", "hist-other", "scope-1", "scope-2", "sum-exemplar", "sum-plain", "summary-other"},
			wantMsg:       `rejected 7 metrics whose scope or own attributes claim another cluster: the credential of cluster "a" cannot write as k8s.cluster.name "b"`,
		},
		{
			name: "traces", consume: consumeTraces, refused: 3,
			rejectKept:    []string{"linked", "linked:link=b", "plain"},
			overwriteKept: []string{"event-other", "linked", "linked:link=b", "other", "plain", "scoped"},
			wantMsg:       `rejected 3 traces whose scope or own attributes claim another cluster: the credential of cluster "a" cannot write as k8s.cluster.name "b"`,
		},
	}
	for _, s := range signals {
		t.Run(s.name+"/reject", func(t *testing.T) {
			set, tel := measured(t)
			err, got := s.consume(t, set, &Config{OnMismatch: OnMismatchReject, RequireAuthentication: true})
			require.Equal(t, codes.PermissionDenied, status.Code(err), "error: %v", err)
			require.Contains(t, err.Error(), s.wantMsg)
			require.Equal(t, s.rejectKept, got)
			require.Equal(t, s.refused, count(t, tel, "vigil_clusteridentity_discarded_items",
				map[string]string{"reason": reasonMismatch, "signal": s.name}))
		})
		t.Run(s.name+"/overwrite", func(t *testing.T) {
			set, tel := measured(t)
			err, got := s.consume(t, set, &Config{OnMismatch: OnMismatchOverwrite, RequireAuthentication: true})
			require.NoError(t, err)
			require.Equal(t, s.overwriteKept, got)
			require.Equal(t, s.refused, count(t, tel, "vigil_clusteridentity_overwritten_items",
				map[string]string{"signal": s.name}))
			require.Zero(t, count(t, tel, "vigil_clusteridentity_discarded_items", nil))
		})
	}
}

func consumeLogs(t *testing.T, set processor.Settings, cfg *Config) (error, []string) {
	t.Helper()
	ld := plog.NewLogs()
	// A resource claiming another cluster (refused as before), and two of the client's own.
	other := ld.ResourceLogs().AppendEmpty()
	claim(other.Resource().Attributes(), "c")
	rc := other.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rc.Body().SetStr("resource-c")
	rc.Attributes().PutStr("k8s.namespace.name", "kube-system")

	own := ld.ResourceLogs().AppendEmpty()
	claim(own.Resource().Attributes(), "a")
	sl := own.ScopeLogs().AppendEmpty()
	for _, r := range [][2]string{{"plain", "-"}, {"own", "a"}, {"other", "b"}, {"unset-claim", ""}} {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(r[0])
		claim(lr.Attributes(), r[1])
		lr.Attributes().PutStr("k8s.namespace.name", "kube-system")
	}
	bScope := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty() // resource without claim: stamped
	claim(bScope.Scope().Attributes(), "b")
	for _, body := range []string{"b-scope-1", "b-scope-2"} {
		lr := bScope.LogRecords().AppendEmpty()
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("k8s.namespace.name", "kube-system")
	}

	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	err = p.ConsumeLogs(asCluster("a"), ld)
	var got lowerClaims
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			require.Equal(t, []string{"a"}, clustersOf(plogOf(rl)))
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					name := lr.Body().AsString()
					got = append(got, name)
					got.add(name, "scope", sl.Scope().Attributes())
					got.add(name, "item", lr.Attributes())
					ns, _ := lr.Attributes().Get("k8s.namespace.name")
					require.Equal(t, "kube-system", ns.AsString(), "other attributes are kept")
				}
			}
		}
	}
	return err, got.sorted()
}

func plogOf(rl plog.ResourceLogs) plog.Logs {
	ld := plog.NewLogs()
	rl.CopyTo(ld.ResourceLogs().AppendEmpty())
	return ld
}

func consumeMetrics(t *testing.T, set processor.Settings, cfg *Config) (error, []string) {
	t.Helper()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	claim(rm.Resource().Attributes(), "a")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("gauge")
	gdps := g.SetEmptyGauge().DataPoints()
	for _, p := range [][2]string{{"plain", "-"}, {"own", "a"}, {"other", "b"}} {
		d := gdps.AppendEmpty()
		d.Attributes().PutStr("point", p[0])
		claim(d.Attributes(), p[1])
	}
	sum := ms.AppendEmpty()
	sum.SetName("sum")
	sdps := sum.SetEmptySum().DataPoints()
	sdps.AppendEmpty().Attributes().PutStr("point", "plain")
	ex := sdps.AppendEmpty()
	ex.Attributes().PutStr("point", "exemplar")
	ex.Exemplars().AppendEmpty().FilteredAttributes().PutStr(ClusterAttribute, "b")
	h := ms.AppendEmpty()
	h.SetName("hist")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.Attributes().PutStr("point", "other")
	claim(hdp.Attributes(), "b")
	e := ms.AppendEmpty()
	e.SetName("exp")
	edp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	edp.Attributes().PutStr("point", "exemplar")
	edp.Exemplars().AppendEmpty().FilteredAttributes().PutStr(ClusterAttribute, "b")
	s := ms.AppendEmpty()
	s.SetName("summary")
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.Attributes().PutStr("point", "other")
	claim(sdp.Attributes(), "b")
	bScope := rm.ScopeMetrics().AppendEmpty()
	claim(bScope.Scope().Attributes(), "b")
	bg := bScope.Metrics().AppendEmpty()
	bg.SetName("scope")
	bg.SetEmptyGauge().DataPoints().AppendEmpty().Attributes().PutStr("point", "1")
	bg.Gauge().DataPoints().AppendEmpty().Attributes().PutStr("point", "2")

	sink := &consumertest.MetricsSink{}
	p, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	err = p.ConsumeMetrics(asCluster("a"), md)
	var got lowerClaims
	for _, md := range sink.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				require.Positive(t, sm.Metrics().Len(), "emptied scopes are removed")
				for _, m := range sm.Metrics().All() {
					visit := func(attrs pcommon.Map, exemplars pmetric.ExemplarSlice) {
						pt, _ := attrs.Get("point")
						name := m.Name() + "-" + pt.AsString()
						got = append(got, name)
						got.add(name, "scope", sm.Scope().Attributes())
						got.add(name, "item", attrs)
						for _, x := range exemplars.All() {
							got.add(name, "exemplar", x.FilteredAttributes())
						}
					}
					n := 0
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						for _, dp := range m.Gauge().DataPoints().All() {
							visit(dp.Attributes(), dp.Exemplars())
							n++
						}
					case pmetric.MetricTypeSum:
						for _, dp := range m.Sum().DataPoints().All() {
							visit(dp.Attributes(), dp.Exemplars())
							n++
						}
					case pmetric.MetricTypeHistogram:
						for _, dp := range m.Histogram().DataPoints().All() {
							visit(dp.Attributes(), dp.Exemplars())
							n++
						}
					case pmetric.MetricTypeExponentialHistogram:
						for _, dp := range m.ExponentialHistogram().DataPoints().All() {
							visit(dp.Attributes(), dp.Exemplars())
							n++
						}
					case pmetric.MetricTypeSummary:
						for _, dp := range m.Summary().DataPoints().All() {
							visit(dp.Attributes(), pmetric.NewExemplarSlice())
							n++
						}
					}
					require.Positive(t, n, "metric %s: emptied metrics are removed", m.Name())
				}
			}
		}
	}
	return err, got.sorted()
}

func consumeTraces(t *testing.T, set processor.Settings, cfg *Config) (error, []string) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	claim(rs.Resource().Attributes(), "a")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.AppendEmpty().SetName("plain")
	o := spans.AppendEmpty()
	o.SetName("other")
	claim(o.Attributes(), "b")
	ev := spans.AppendEmpty()
	ev.SetName("event-other")
	ev.Events().AppendEmpty().SetName("ok")
	claim(ev.Events().AppendEmpty().Attributes(), "b")
	l := spans.AppendEmpty()
	l.SetName("linked") // a link names a span that may run in another cluster: left alone
	claim(l.Links().AppendEmpty().Attributes(), "b")
	bScope := rs.ScopeSpans().AppendEmpty()
	claim(bScope.Scope().Attributes(), "b")
	bScope.Spans().AppendEmpty().SetName("scoped")

	sink := &consumertest.TracesSink{}
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	err = p.ConsumeTraces(asCluster("a"), td)
	var got lowerClaims
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					got = append(got, s.Name())
					got.add(s.Name(), "scope", ss.Scope().Attributes())
					got.add(s.Name(), "item", s.Attributes())
					for _, e := range s.Events().All() {
						got.add(s.Name(), "event", e.Attributes())
					}
					for _, l := range s.Links().All() {
						got.add(s.Name(), "link", l.Attributes())
					}
				}
			}
		}
	}
	return err, got.sorted()
}

// Without an authenticated cluster (require_authentication: false) nothing is enforced.
func TestLowerLevelClaimsUnauthenticated(t *testing.T) {
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type),
		&Config{OnMismatch: OnMismatchReject, RequireAuthentication: false}, sink)
	require.NoError(t, err)
	ld := logsClaiming(1, "")
	claim(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes(), "b")
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.Equal(t, 1, sink.LogRecordCount())
	v, _ := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get(ClusterAttribute)
	require.Equal(t, "b", v.AsString())
}

func attrKey(s string) attribute.Key { return attribute.Key(s) }
