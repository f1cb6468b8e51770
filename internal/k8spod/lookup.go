package k8spod

import (
	"context"
	"fmt"
	"net"

	"go.uber.org/zap"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// Resource attribute names (OpenTelemetry semantic conventions).
const (
	AttrCluster   = "k8s.cluster.name"
	AttrNode      = "k8s.node.name"
	AttrNamespace = "k8s.namespace.name"
	AttrPodName   = "k8s.pod.name"
	AttrPodUID    = "k8s.pod.uid"
	AttrPodIP     = "k8s.pod.ip"
	AttrLabel     = "k8s.pod.label."
)

// Attr is a string resource attribute.
type Attr = otlpwire.Attr

// Pods lists and watches pods: what the cache needs of the Kubernetes API. client-go's typed
// client of the pods of every namespace (clientset.CoreV1().Pods("")) is one; NewClient makes
// one that links the core/v1 API group only.
type Pods interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// NewClient returns a client of the pods of the Kubernetes API: in-cluster (AuthServiceAccount) or from
// $KUBECONFIG or ~/.kube/config (AuthKubeConfig).
func NewClient(authType string) (Pods, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch authType {
	case AuthKubeConfig:
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	default:
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot configure the Kubernetes client (pod_metadata.auth_type: %s): %w", authType, err)
	}
	return newPodsClient(rc)
}

// StartCache starts a cache of the pods of node as cfg says and waits up to cfg.SyncTimeout for
// its first listing; if the listing takes longer it logs so and the cache fills in the
// background. client nil: built from cfg.AuthType.
func StartCache(ctx context.Context, client Pods, cfg Config, node string, logger *zap.Logger) (*Cache, error) {
	if client == nil {
		var err error
		if client, err = NewClient(cfg.AuthType); err != nil {
			return nil, err
		}
	}
	c, err := NewCache(client, node, cfg.Labels, cfg.KeepAnnotations)
	if err != nil {
		return nil, err
	}
	if !c.Start(ctx, cfg.SyncTimeout) {
		logger.Warn("pod cache not synced yet; pod metadata will be added once it is",
			zap.String("node", node), zap.Duration("sync_timeout", cfg.SyncTimeout))
	}
	return c, nil
}

// Find associates a resource with a pod of the cache's node: by k8s.pod.uid, by k8s.pod.name
// with k8s.namespace.name, by k8s.pod.ip, else by clientIP, the address the data came from
// ("" if unknown). attr reads the resource's string attributes. It returns nil when no pod of
// the node matches.
func (c *Cache) Find(attr func(key string) (string, bool), clientIP string) *corev1.Pod {
	if v, ok := attr(AttrPodUID); ok && v != "" {
		if pod := c.byIndex(indexUID, v); pod != nil {
			return pod
		}
	}
	name, okName := attr(AttrPodName)
	ns, okNS := attr(AttrNamespace)
	if okName && okNS {
		if pod := c.byName(ns, name); pod != nil {
			return pod
		}
	}
	if v, ok := attr(AttrPodIP); ok && v != "" {
		if pod := c.byIndex(indexIP, v); pod != nil {
			return pod
		}
	}
	if clientIP != "" {
		return c.byIndex(indexIP, clientIP)
	}
	return nil
}

// AppendAttributes appends the resource attributes naming pod: namespace, name, uid, its
// workload (replicaset, deployment, statefulset, daemonset, job, cronjob) and the labels the
// cache keeps, in that order. Keys are distinct.
func (c *Cache) AppendAttributes(dst []Attr, pod *corev1.Pod) []Attr {
	dst = append(dst, Attr{Key: AttrNamespace, Value: pod.Namespace}, Attr{Key: AttrPodName, Value: pod.Name},
		Attr{Key: AttrPodUID, Value: string(pod.UID)})
	dst = appendWorkload(dst, pod)
	for _, k := range c.labels {
		if v, ok := pod.Labels[k]; ok {
			dst = append(dst, Attr{Key: AttrLabel + k, Value: v})
		}
	}
	return dst
}

// ClientIP is the IP address of addr, or "" if it has none.
func ClientIP(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.IPAddr:
		return a.IP.String()
	case nil:
		return ""
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return ""
		}
		return host
	}
}
