package otlprelayreceiver

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/metric/noop"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vigil-obs/vigil/internal/k8spod/k8spodtest"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// fakePods makes the relay's pod lookups read a fake API server holding pods of node n1.
func fakePods(t *testing.T, pods ...*corev1.Pod) {
	t.Helper()
	cs := fake.NewClientset()
	for _, p := range pods {
		_, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	kubeClient = k8spodtest.Pods(cs)
	t.Cleanup(func() { kubeClient = nil })
}

func nodePod(name, ip, ownerKind, ownerName string, labels map[string]string) *corev1.Pod {
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{Kind: ownerKind, Name: ownerName, Controller: &yes}}},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

// TestRelayPodMetadata: with pod_metadata on, each resource gets the identity of its own pod —
// by k8s.pod.uid, by k8s.pod.ip, else by the address the request came from (HTTP and gRPC) —
// besides resource_attributes; the data is otherwise forwarded as sent.
func TestRelayPodMetadata(t *testing.T) {
	fakePods(t,
		nodePod("web-7d9f8-abcde", "10.0.0.5", "ReplicaSet", "web-7d9f8", map[string]string{"pod-template-hash": "7d9f8", "app": "web"}),
		nodePod("db-0", "10.0.0.6", "StatefulSet", "db", nil),
		nodePod("local-agent", "127.0.0.1", "DaemonSet", "local", nil)) // where the test's requests come from
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0, func(c *Config) {
		c.PodMetadata.Enabled, c.PodMetadata.NodeName, c.PodMetadata.SyncTimeout = true, "n1", 5*time.Second
	})

	// Logs over HTTP: a resource naming its pod by uid, and one naming nothing.
	ld := plog.NewLogs()
	web := ld.ResourceLogs().AppendEmpty()
	web.Resource().Attributes().PutStr("k8s.pod.uid", "uid-web-7d9f8-abcde")
	web.Resource().Attributes().PutStr("service.name", "web")
	web.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("from web")
	anon := ld.ResourceLogs().AppendEmpty()
	anon.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("from nobody in particular")
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/logs", body).StatusCode)

	// Traces over gRPC: a resource naming its pod by IP.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("k8s.pod.ip", "10.0.0.6")
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("SELECT")
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("anonymous")
	_, err = ptraceotlp.NewGRPCClient(grpcConn(t, env.grpcAddr)).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)

	testutil.Eventually(t, 10*time.Second, func() error {
		gw.mu.Lock()
		defer gw.mu.Unlock()
		if len(gw.logs) != 1 || len(gw.traces) != 1 {
			return fmt.Errorf("%d logs and %d traces requests", len(gw.logs), len(gw.traces))
		}
		return nil
	})
	gw.mu.Lock()
	defer gw.mu.Unlock()
	got := gw.logs[0].ResourceLogs()
	require.Equal(t, 2, got.Len())
	require.Equal(t, map[string]any{"k8s.cluster.name": "c1", "k8s.node.name": "n1", "service.name": "web",
		"k8s.namespace.name": "shop", "k8s.pod.name": "web-7d9f8-abcde", "k8s.pod.uid": "uid-web-7d9f8-abcde",
		"k8s.replicaset.name": "web-7d9f8", "k8s.deployment.name": "web", "k8s.pod.label.app": "web"},
		got.At(0).Resource().Attributes().AsRaw())
	require.Equal(t, "from web", got.At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	require.Equal(t, map[string]any{"k8s.cluster.name": "c1", "k8s.node.name": "n1",
		"k8s.namespace.name": "shop", "k8s.pod.name": "local-agent", "k8s.pod.uid": "uid-local-agent",
		"k8s.daemonset.name": "local"}, got.At(1).Resource().Attributes().AsRaw(), "by the client's address")
	require.Equal(t, map[string]any{"k8s.cluster.name": "c1", "k8s.node.name": "n1", "k8s.pod.ip": "10.0.0.6",
		"k8s.namespace.name": "shop", "k8s.pod.name": "db-0", "k8s.pod.uid": "uid-db-0", "k8s.statefulset.name": "db"},
		gw.traces[0].ResourceSpans().At(0).Resource().Attributes().AsRaw())
	require.Equal(t, "SELECT", gw.traces[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name())
	require.Equal(t, map[string]any{"k8s.cluster.name": "c1", "k8s.node.name": "n1",
		"k8s.namespace.name": "shop", "k8s.pod.name": "local-agent", "k8s.pod.uid": "uid-local-agent",
		"k8s.daemonset.name": "local"}, gw.traces[0].ResourceSpans().At(1).Resource().Attributes().AsRaw(), "by the gRPC client's address")
	require.Equal(t, int64(4), env.sum(t, "vigil_otlprelay_pod_lookups", map[string]string{"result": "hit"}))
}

// TestRelayPodMetadataMiss: a resource no pod of the node matches gets resource_attributes
// alone, and the miss is counted.
func TestRelayPodMetadataMiss(t *testing.T) {
	fakePods(t, nodePod("web-1", "10.0.0.5", "ReplicaSet", "web", nil))
	gw, gwAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), gwAddr, 0, func(c *Config) {
		c.PodMetadata.Enabled, c.PodMetadata.NodeName = true, "n1"
	})
	body, err := logsRequest("miss", "svc", 2).MarshalProto()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, postProto(t, "http://"+env.httpAddr+"/v1/logs", body).StatusCode)
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := gw.bodies()["miss 1"]; len(got) != 1 || got[0] != "k8s.cluster.name=c1,k8s.node.name=n1,service.name=svc," {
			return fmt.Errorf("miss 1: %v", got)
		}
		return nil
	})
	require.Equal(t, int64(1), env.sum(t, "vigil_otlprelay_pod_lookups", map[string]string{"result": "miss"}))
	require.Zero(t, env.sum(t, "vigil_otlprelay_pod_lookups", map[string]string{"result": "hit"}))
}

// BenchmarkStamp compares stamping a request of 512 log records in 8 resources (one pod each,
// named by k8s.pod.ip) with resource_attributes alone and with pod metadata as well.
func BenchmarkStamp(b *testing.B) {
	cs := fake.NewClientset()
	ld := plog.NewLogs()
	for i := range 8 {
		ip := fmt.Sprintf("10.0.0.%d", i+1)
		p := nodePod(fmt.Sprintf("web-7d9f8-%d", i), ip, "ReplicaSet", "web-7d9f8", map[string]string{"pod-template-hash": "7d9f8", "app": "web"})
		if _, err := cs.CoreV1().Pods("shop").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.pod.ip", ip)
		rl.Resource().Attributes().PutStr("service.name", "web")
		sl := rl.ScopeLogs().AppendEmpty()
		for j := range 64 {
			lr := sl.LogRecords().AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("GET /api/v1/items/%d 200 %d bytes in 3ms", j, 100+j))
			lr.Attributes().PutStr("http.route", "/api/v1/items/{id}")
		}
	}
	req, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	attrs := []otlpwire.Attr{{Key: "k8s.cluster.name", Value: "c1"}, {Key: "k8s.node.name", Value: "n1"}}
	cfg := createDefaultConfig().PodMetadata
	cfg.Enabled, cfg.NodeName = true, "n1"
	kubeClient = k8spodtest.Pods(cs)
	defer func() { kubeClient = nil }()
	p := newPods(receivertest.NewNopSettings(Type), noop.Int64Counter{}, &cfg)
	if err := p.start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer p.shutdown()
	dst := make([]byte, 0, 2*len(req))
	b.Run("resource_attributes", func(b *testing.B) {
		b.SetBytes(int64(len(req)))
		b.ReportAllocs()
		for b.Loop() {
			if dst, err = otlpwire.SetResourceAttributes(dst[:0], req, otlpwire.Logs, attrs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pod_metadata", func(b *testing.B) {
		b.SetBytes(int64(len(req)))
		b.ReportAllocs()
		for b.Loop() {
			if dst, err = p.stamp(context.Background(), dst[:0], req, otlpwire.Logs, attrs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
