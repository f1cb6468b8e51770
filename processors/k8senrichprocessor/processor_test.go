package k8senrichprocessor

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vigil-obs/vigil/internal/k8spod/k8spodtest"

	"github.com/vigil-obs/vigil/internal/k8spod"
)

const (
	attrNamespace = k8spod.AttrNamespace
	attrPodName   = k8spod.AttrPodName
	attrPodUID    = k8spod.AttrPodUID
	attrPodIP     = k8spod.AttrPodIP
)

func pod(name, node, ip string, owner *metav1.OwnerReference, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: labels,
			Annotations: map[string]string{"big": string(make([]byte, 1024))}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	if owner != nil {
		owner.Controller = ptr(true)
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// startLogs builds a started logs processor over a fake API server holding the given pods.
func startLogs(t *testing.T, cfg *Config, pods ...*corev1.Pod) (processor.Logs, *consumertest.LogsSink, *enricher) {
	t.Helper()
	objs := make([]any, 0, len(pods))
	for _, p := range pods {
		objs = append(objs, p)
	}
	cs := fake.NewClientset()
	for _, o := range objs {
		_, err := cs.CoreV1().Pods("shop").Create(context.Background(), o.(*corev1.Pod), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	set := processortest.NewNopSettings(Type)
	e, err := newEnricher(set, cfg, k8spodtest.Pods(cs))
	require.NoError(t, err)
	sink := &consumertest.LogsSink{}
	p, err := processorhelper.NewLogs(context.Background(), set, cfg, sink, e.processLogs,
		processorhelper.WithStart(e.start), processorhelper.WithShutdown(e.shutdown))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink, e
}

func resourceOf(t *testing.T, sink *consumertest.LogsSink) map[string]any {
	t.Helper()
	all := sink.AllLogs()
	require.Len(t, all, 1)
	return all[0].ResourceLogs().At(0).Resource().Attributes().AsRaw()
}

func TestStampsClusterAndNodeOnEverySignal(t *testing.T) {
	cfg := &Config{ClusterName: "prod-eu-1", NodeName: "node-1"}
	ctx := context.Background()
	set := processortest.NewNopSettings(Type)
	f := NewFactory()

	ls := &consumertest.LogsSink{}
	lp, err := f.CreateLogs(ctx, set, cfg, ls)
	require.NoError(t, err)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().Resource().Attributes().PutStr(attrCluster, "forged")
	require.NoError(t, lp.ConsumeLogs(ctx, ld))
	require.Equal(t, map[string]any{attrCluster: "prod-eu-1", attrNode: "node-1"}, resourceOf(t, ls))

	ms := &consumertest.MetricsSink{}
	mp, err := f.CreateMetrics(ctx, set, cfg, ms)
	require.NoError(t, err)
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty()
	require.NoError(t, mp.ConsumeMetrics(ctx, md))
	require.Equal(t, map[string]any{attrCluster: "prod-eu-1", attrNode: "node-1"},
		ms.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().AsRaw())

	ts := &consumertest.TracesSink{}
	tp, err := f.CreateTraces(ctx, set, cfg, ts)
	require.NoError(t, err)
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty()
	require.NoError(t, tp.ConsumeTraces(ctx, td))
	require.Equal(t, map[string]any{attrCluster: "prod-eu-1", attrNode: "node-1"},
		ts.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().AsRaw())

	// Shutdown is safe before Start and idempotent.
	require.NoError(t, lp.Shutdown(ctx))
	require.NoError(t, lp.Shutdown(ctx))
}

func TestPodAssociation(t *testing.T) {
	web := pod("web-7d9f8-abcde", "node-1", "10.0.0.5",
		&metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-7d9f8"},
		map[string]string{"pod-template-hash": "7d9f8", "app.kubernetes.io/name": "web", "secret-ish": "no"})
	db := pod("db-0", "node-1", "10.0.0.6", &metav1.OwnerReference{Kind: "StatefulSet", Name: "db"}, nil)
	job := pod("report-29123456-xyz", "node-1", "10.0.0.7", &metav1.OwnerReference{Kind: "Job", Name: "report-29123456"}, nil)
	elsewhere := pod("far-away", "node-2", "10.0.9.9", &metav1.OwnerReference{Kind: "DaemonSet", Name: "far"}, nil)

	cfg := createDefaultConfig()
	cfg.ClusterName, cfg.NodeName, cfg.PodMetadata.Enabled = "c1", "node-1", true
	cfg.PodMetadata.SyncTimeout = 5 * time.Second

	webAttrs := map[string]any{attrCluster: "c1", attrNode: "node-1", attrNamespace: "shop", attrPodName: web.Name,
		attrPodUID: string(web.UID), "k8s.replicaset.name": "web-7d9f8", "k8s.deployment.name": "web",
		"k8s.pod.label.app.kubernetes.io/name": "web"}
	tests := []struct {
		name  string
		attrs map[string]string
		addr  net.Addr
		want  map[string]any
	}{
		{name: "by uid", attrs: map[string]string{attrPodUID: string(web.UID)}, want: webAttrs},
		{name: "by name and namespace", attrs: map[string]string{attrPodName: web.Name, attrNamespace: "shop"}, want: webAttrs},
		{name: "by pod ip", attrs: map[string]string{attrPodIP: "10.0.0.6"}, want: map[string]any{attrCluster: "c1", attrNode: "node-1",
			attrNamespace: "shop", attrPodName: "db-0", attrPodUID: "uid-db-0", attrPodIP: "10.0.0.6", "k8s.statefulset.name": "db"}},
		{name: "by client address", addr: &net.TCPAddr{IP: net.ParseIP("10.0.0.7"), Port: 5555}, want: map[string]any{attrCluster: "c1",
			attrNode: "node-1", attrNamespace: "shop", attrPodName: job.Name, attrPodUID: string(job.UID),
			"k8s.job.name": "report-29123456", "k8s.cronjob.name": "report"}},
		{name: "pod of another node is never used", attrs: map[string]string{attrPodUID: string(elsewhere.UID), attrPodIP: "10.0.9.9"},
			want: map[string]any{attrCluster: "c1", attrNode: "node-1", attrPodUID: string(elsewhere.UID), attrPodIP: "10.0.9.9"}},
		{name: "unknown", attrs: map[string]string{attrPodIP: "192.0.2.1"}, want: map[string]any{attrCluster: "c1", attrNode: "node-1", attrPodIP: "192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg // a distinct Config: a distinct shared enricher
			p, sink, _ := startLogs(t, &c, web, db, job, elsewhere)
			ld := plog.NewLogs()
			res := ld.ResourceLogs().AppendEmpty().Resource()
			for k, v := range tt.attrs {
				res.Attributes().PutStr(k, v)
			}
			ctx := context.Background()
			if tt.addr != nil {
				ctx = client.NewContext(ctx, client.Info{Addr: tt.addr})
			}
			require.NoError(t, p.ConsumeLogs(ctx, ld))
			require.Equal(t, tt.want, resourceOf(t, sink))
		})
	}
}

func TestStartDoesNotBlockWithoutAPIServer(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.ClusterName, cfg.NodeName, cfg.PodMetadata.Enabled = "c1", "node-1", true
	cfg.PodMetadata.AuthType = AuthServiceAccount
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	lp, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = lp.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "pod_metadata.auth_type: serviceAccount")
	require.NoError(t, lp.Shutdown(context.Background()))
}

func BenchmarkEnrich(b *testing.B) {
	pods := make([]*corev1.Pod, 0, 100)
	for i := range 100 {
		pods = append(pods, pod(fmt.Sprintf("p-%d", i), "node-1", fmt.Sprintf("10.0.1.%d", i), nil, nil))
	}
	cfg := createDefaultConfig()
	cfg.ClusterName, cfg.NodeName, cfg.PodMetadata.Enabled = "c1", "node-1", true
	cs := fake.NewClientset()
	for _, p := range pods {
		_, _ = cs.CoreV1().Pods("shop").Create(context.Background(), p, metav1.CreateOptions{})
	}
	e, err := newEnricher(processortest.NewNopSettings(Type), cfg, k8spodtest.Pods(cs))
	if err != nil {
		b.Fatal(err)
	}
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.shutdown(context.Background()) }()
	ld := plog.NewLogs()
	for i := range 10 {
		ld.ResourceLogs().AppendEmpty().Resource().Attributes().PutStr(attrPodIP, fmt.Sprintf("10.0.1.%d", i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			e.enrich(ctx, ld.ResourceLogs().At(i).Resource())
		}
	}
}
