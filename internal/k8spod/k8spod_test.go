package k8spod

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testPod(name, node, ip string, owner *metav1.OwnerReference, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: labels,
			Annotations: map[string]string{"big": string(make([]byte, 1024))}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	if owner != nil {
		yes := true
		owner.Controller = &yes
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

// startCache returns a started cache of node-1 over a fake API server holding pods.
func startCache(t *testing.T, labels []string, pods ...*corev1.Pod) *Cache {
	t.Helper()
	cs := fake.NewClientset()
	for _, p := range pods {
		_, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	c, err := NewCache(fakePods(cs), "node-1", labels, nil)
	require.NoError(t, err)
	require.True(t, c.Start(context.Background(), 5*time.Second))
	t.Cleanup(c.Shutdown)
	return c
}

func attrsOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestCacheHoldsStrippedPods(t *testing.T) {
	c := startCache(t, []string{"app"}, testPod("web-1", "node-1", "10.0.0.5", nil, map[string]string{"app": "web", "other": "x"}))
	obj, ok, err := c.informer.GetIndexer().GetByKey("shop/web-1")
	require.NoError(t, err)
	require.True(t, ok)
	cached := obj.(*corev1.Pod)
	require.Empty(t, cached.Annotations, "annotations are not kept")
	require.Empty(t, cached.Spec.Containers, "the pod spec is not kept")
	require.Equal(t, map[string]string{"app": "web"}, cached.Labels, "only configured labels are kept")
}

func TestFindAndAttributes(t *testing.T) {
	web := testPod("web-7d9f8-abcde", "node-1", "10.0.0.5", &metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-7d9f8"},
		map[string]string{"pod-template-hash": "7d9f8", "app": "web"})
	cron := testPod("report-29123456-xyz", "node-1", "10.0.0.7", &metav1.OwnerReference{Kind: "Job", Name: "report-29123456"}, nil)
	host := testPod("node-exporter-x", "node-1", "10.0.0.1", &metav1.OwnerReference{Kind: "DaemonSet", Name: "node-exporter"}, nil)
	host.Spec.HostNetwork = true
	far := testPod("far", "node-2", "10.0.9.9", nil, nil)
	c := startCache(t, []string{"app"}, web, cron, host, far)

	require.Equal(t, []Attr{{Key: AttrNamespace, Value: "shop"}, {Key: AttrPodName, Value: web.Name},
		{Key: AttrPodUID, Value: "uid-" + web.Name}, {Key: "k8s.replicaset.name", Value: "web-7d9f8"},
		{Key: "k8s.deployment.name", Value: "web"}, {Key: "k8s.pod.label.app", Value: "web"}},
		c.AppendAttributes(nil, c.Find(attrsOf(map[string]string{AttrPodUID: "uid-" + web.Name}), "")))
	require.Equal(t, []Attr{{Key: AttrNamespace, Value: "shop"}, {Key: AttrPodName, Value: cron.Name},
		{Key: AttrPodUID, Value: "uid-" + cron.Name}, {Key: "k8s.job.name", Value: "report-29123456"},
		{Key: "k8s.cronjob.name", Value: "report"}},
		c.AppendAttributes(nil, c.Find(attrsOf(nil), "10.0.0.7")))

	for name, tt := range map[string]struct {
		attrs    map[string]string
		clientIP string
		want     string // pod name, "" for none
	}{
		"uid first":                      {attrs: map[string]string{AttrPodUID: "uid-" + web.Name, AttrPodIP: "10.0.0.7"}, want: web.Name},
		"unknown uid, then name":         {attrs: map[string]string{AttrPodUID: "nope", AttrPodName: cron.Name, AttrNamespace: "shop"}, want: cron.Name},
		"name needs the namespace":       {attrs: map[string]string{AttrPodName: cron.Name}},
		"pod ip before the client":       {attrs: map[string]string{AttrPodIP: "10.0.0.5"}, clientIP: "10.0.0.7", want: web.Name},
		"client address":                 {clientIP: "10.0.0.7", want: cron.Name},
		"host network is never by ip":    {clientIP: "10.0.0.1"},
		"another node's pod is not used": {attrs: map[string]string{AttrPodUID: "uid-far", AttrPodIP: "10.0.9.9"}},
	} {
		t.Run(name, func(t *testing.T) {
			got := c.Find(attrsOf(tt.attrs), tt.clientIP)
			if tt.want == "" {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, tt.want, got.Name)
		})
	}
}

func TestClientIP(t *testing.T) {
	require.Equal(t, "10.0.0.7", ClientIP(&net.TCPAddr{IP: net.ParseIP("10.0.0.7"), Port: 80}))
	require.Equal(t, "fd00::1", ClientIP(&net.IPAddr{IP: net.ParseIP("fd00::1")}))
	require.Equal(t, "10.0.0.8", ClientIP(&net.UDPAddr{IP: net.ParseIP("10.0.0.8"), Port: 1}))
	require.Empty(t, ClientIP(nil))
	require.Empty(t, ClientIP(&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}))
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate("", "node_name"), "a disabled lookup needs nothing")
	cfg := DefaultConfig()
	cfg.Enabled = true
	require.NoError(t, cfg.Validate("n1", "node_name"))
	cfg.AuthType, cfg.SyncTimeout, cfg.Labels = "token", 0, []string{""}
	err := cfg.Validate("", "pod_metadata.node_name")
	for _, want := range []string{
		"pod_metadata.node_name: must be set when pod_metadata.enabled is true",
		`pod_metadata.auth_type: "token" is not allowed`,
		`pod_metadata.sync_timeout: "0s" must be positive`,
		"pod_metadata.labels[0]: must not be empty",
	} {
		require.ErrorContains(t, err, want)
	}
}

func TestCacheKeepsOnlyTheAnnotationsAsked(t *testing.T) {
	cs := fake.NewClientset()
	muted := testPod("noisy", "node-1", "10.0.0.8", nil, nil)
	muted.Annotations["vigil.io/exclude"] = "true"
	for _, p := range []*corev1.Pod{muted, testPod("web", "node-1", "10.0.0.9", nil, nil)} {
		_, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	c, err := NewCache(fakePods(cs), "node-1", nil, []string{"vigil.io/exclude"})
	require.NoError(t, err)
	require.True(t, c.Start(context.Background(), 5*time.Second))
	t.Cleanup(c.Shutdown)

	v, ok := c.Annotation("uid-noisy", "vigil.io/exclude")
	require.True(t, ok)
	require.Equal(t, "true", v)
	_, ok = c.Annotation("uid-noisy", "big")
	require.False(t, ok, "an annotation not asked for is dropped")
	_, ok = c.Annotation("uid-web", "vigil.io/exclude")
	require.False(t, ok)
	_, ok = c.Annotation("uid-unknown", "vigil.io/exclude")
	require.False(t, ok)
}

// fakePods is k8spodtest.Pods (which this package's tests cannot import).
func fakePods(cs *fake.Clientset) Pods { return fakePodsClient{cs.CoreV1().Pods(""), cs} }

type fakePodsClient struct {
	Pods
	cs *fake.Clientset
}

func (p fakePodsClient) IsWatchListSemanticsUnSupported() bool {
	return p.cs.IsWatchListSemanticsUnSupported()
}
