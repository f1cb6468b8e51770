package clusteridentityprocessor

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type auth string

func (a auth) GetAttribute(name string) any {
	if name == ClusterAttribute {
		return string(a)
	}
	return nil
}
func (auth) GetAttributeNames() []string { return []string{ClusterAttribute} }

func asCluster(cluster string) context.Context {
	return client.NewContext(context.Background(), client.Info{Auth: auth(cluster)})
}

// logsClaiming builds one resource per claim ("" = no k8s.cluster.name), each with n records.
func logsClaiming(n int, claims ...string) plog.Logs {
	ld := plog.NewLogs()
	for _, c := range claims {
		rl := ld.ResourceLogs().AppendEmpty()
		if c != "" {
			rl.Resource().Attributes().PutStr(ClusterAttribute, c)
		}
		sl := rl.ScopeLogs().AppendEmpty()
		for range n {
			sl.LogRecords().AppendEmpty().Body().SetStr("x")
		}
	}
	return ld
}

func clustersOf(ld plog.Logs) []string {
	var out []string
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		v, ok := ld.ResourceLogs().At(i).Resource().Attributes().Get(ClusterAttribute)
		if !ok {
			out = append(out, "")
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

func TestLogs(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		ctx        context.Context
		claims     []string
		wantCode   codes.Code
		wantMsg    string
		wantPassed []string
	}{
		{name: "own cluster and unset are accepted and stamped", cfg: Config{OnMismatch: "reject", RequireAuthentication: true},
			ctx: asCluster("a"), claims: []string{"a", ""}, wantPassed: []string{"a", "a"}},
		{name: "other cluster is rejected, the rest kept", cfg: Config{OnMismatch: "reject", RequireAuthentication: true},
			ctx: asCluster("a"), claims: []string{"a", "b", ""}, wantCode: codes.PermissionDenied,
			wantMsg:    `rejected 1 of 3 resources (2 logs): the credential of cluster "a" cannot write as k8s.cluster.name "b"`,
			wantPassed: []string{"a", "a"}},
		{name: "only other cluster: nothing passes", cfg: Config{OnMismatch: "reject", RequireAuthentication: true},
			ctx: asCluster("a"), claims: []string{"b"}, wantCode: codes.PermissionDenied, wantMsg: `rejected 1 of 1 resources`},
		{name: "overwrite", cfg: Config{OnMismatch: "overwrite", RequireAuthentication: true},
			ctx: asCluster("a"), claims: []string{"b", ""}, wantPassed: []string{"a", "a"}},
		{name: "unauthenticated refused", cfg: Config{OnMismatch: "reject", RequireAuthentication: true},
			ctx: context.Background(), claims: []string{"a"}, wantCode: codes.Unauthenticated, wantMsg: "no authenticated cluster"},
		{name: "unauthenticated allowed passes unchanged", cfg: Config{OnMismatch: "reject", RequireAuthentication: false},
			ctx: context.Background(), claims: []string{"b", ""}, wantPassed: []string{"b", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &consumertest.LogsSink{}
			p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), &tt.cfg, sink)
			require.NoError(t, err)
			err = p.ConsumeLogs(tt.ctx, logsClaiming(2, tt.claims...))
			if tt.wantCode != codes.OK {
				require.Equal(t, tt.wantCode, status.Code(err), "error: %v", err)
				require.Contains(t, err.Error(), tt.wantMsg)
			} else {
				require.NoError(t, err)
			}
			var passed []string
			for _, ld := range sink.AllLogs() {
				passed = append(passed, clustersOf(ld)...)
			}
			require.Equal(t, tt.wantPassed, passed)
		})
	}
}

func TestDownstreamErrorWins(t *testing.T) {
	retryable := errors.New("queue full")
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewErr(retryable))
	require.NoError(t, err)
	err = p.ConsumeLogs(asCluster("a"), logsClaiming(1, "a", "b"))
	require.ErrorIs(t, err, retryable, "the client must see the retryable error so it re-sends")
}

func TestMetricsAndTraces(t *testing.T) {
	ctx := asCluster("a")
	msink := &consumertest.MetricsSink{}
	mp, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), msink)
	require.NoError(t, err)
	md := pmetric.NewMetrics()
	for _, c := range []string{"a", "b"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr(ClusterAttribute, c)
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge()
		g.DataPoints().AppendEmpty().SetIntValue(1)
		g.DataPoints().AppendEmpty().SetIntValue(2)
	}
	err = mp.ConsumeMetrics(ctx, md)
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Contains(t, err.Error(), "(2 metrics)")
	require.Equal(t, 2, msink.DataPointCount())

	tsink := &consumertest.TracesSink{}
	tp, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), tsink)
	require.NoError(t, err)
	td := ptrace.NewTraces()
	for _, c := range []string{"b", ""} {
		rs := td.ResourceSpans().AppendEmpty()
		if c != "" {
			rs.Resource().Attributes().PutStr(ClusterAttribute, c)
		}
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("s")
	}
	err = tp.ConsumeTraces(ctx, td)
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Equal(t, 1, tsink.SpanCount())
	v, _ := tsink.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().Get(ClusterAttribute)
	require.Equal(t, "a", v.AsString())
}
