package k8senrichprocessor

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Resource attribute names (OpenTelemetry semantic conventions).
const (
	attrCluster   = "k8s.cluster.name"
	attrNode      = "k8s.node.name"
	attrNamespace = "k8s.namespace.name"
	attrPodName   = "k8s.pod.name"
	attrPodUID    = "k8s.pod.uid"
	attrPodIP     = "k8s.pod.ip"
	attrLabel     = "k8s.pod.label."
)

var (
	sharedMu sync.Mutex
	shared   = map[*Config]*enricher{}
)

// enricher is shared by the logs, metrics and traces instances built from one Config, so that
// one informer serves all three pipelines. It is safe for concurrent use.
type enricher struct {
	cfg     *Config
	logger  *zap.Logger
	lookups metric.Int64Counter
	client  kubernetes.Interface // nil: built from cfg at start

	mu     sync.Mutex
	starts int
	pods   atomic.Pointer[podCache]
}

// newEnricher returns the enricher of cfg, creating it on first use. client, when not nil,
// replaces the API client built from the configuration (tests).
func newEnricher(set processor.Settings, cfg *Config, client kubernetes.Interface) (*enricher, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if e, ok := shared[cfg]; ok {
		return e, nil
	}
	meter := set.MeterProvider.Meter("github.com/vigil-obs/vigil/processors/k8senrichprocessor")
	lookups, err := meter.Int64Counter("vigil_k8senrich_pod_lookups",
		metric.WithDescription("Pod associations attempted, by result (hit, miss)."), metric.WithUnit("{lookups}"))
	if err != nil {
		return nil, err
	}
	e := &enricher{cfg: cfg, logger: set.Logger, lookups: lookups, client: client}
	shared[cfg] = e
	return e, nil
}

func (e *enricher) start(ctx context.Context, _ component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.starts++
	if e.starts > 1 || !e.cfg.PodMetadata.Enabled {
		return nil
	}
	cl := e.client
	if cl == nil {
		var err error
		if cl, err = newClient(e.cfg.PodMetadata.AuthType); err != nil {
			e.starts--
			return err
		}
	}
	pods, err := newPodCache(cl, e.cfg.NodeName, e.cfg.PodMetadata.Labels)
	if err != nil {
		e.starts--
		return err
	}
	if !pods.start(ctx, e.cfg.PodMetadata.SyncTimeout) {
		e.logger.Warn("pod cache not synced yet; pod metadata will be added once it is",
			zap.String("node", e.cfg.NodeName), zap.Duration("sync_timeout", e.cfg.PodMetadata.SyncTimeout))
	}
	e.pods.Store(pods)
	return nil
}

func (e *enricher) shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.starts == 0 {
		return nil
	}
	e.starts--
	if e.starts > 0 {
		return nil
	}
	if pods := e.pods.Swap(nil); pods != nil {
		pods.shutdown()
	}
	sharedMu.Lock()
	delete(shared, e.cfg)
	sharedMu.Unlock()
	return nil
}

func newClient(authType string) (kubernetes.Interface, error) {
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
	cl, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot create the Kubernetes client: %w", err)
	}
	return cl, nil
}

// enrich stamps one resource.
func (e *enricher) enrich(ctx context.Context, res pcommon.Resource) {
	attrs := res.Attributes()
	attrs.PutStr(attrCluster, e.cfg.ClusterName)
	if e.cfg.NodeName != "" {
		attrs.PutStr(attrNode, e.cfg.NodeName)
	}
	pods := e.pods.Load()
	if pods == nil {
		return
	}
	pod := e.findPod(ctx, pods, attrs)
	result := "miss"
	if pod != nil {
		result = "hit"
		attrs.PutStr(attrNamespace, pod.Namespace)
		attrs.PutStr(attrPodName, pod.Name)
		attrs.PutStr(attrPodUID, string(pod.UID))
		for k, v := range workload(pod) {
			attrs.PutStr(k, v)
		}
		for _, k := range e.cfg.PodMetadata.Labels {
			if v, ok := pod.Labels[k]; ok {
				attrs.PutStr(attrLabel+k, v)
			}
		}
	}
	e.lookups.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}

// findPod associates a resource with a pod of this node: by k8s.pod.uid, by pod name and
// namespace, by k8s.pod.ip, else by the address of the connection the data came from.
func (e *enricher) findPod(ctx context.Context, pods *podCache, attrs pcommon.Map) *corev1.Pod {
	if v, ok := attrs.Get(attrPodUID); ok && v.AsString() != "" {
		if pod := pods.byIndex(indexUID, v.AsString()); pod != nil {
			return pod
		}
	}
	name, okName := attrs.Get(attrPodName)
	ns, okNS := attrs.Get(attrNamespace)
	if okName && okNS {
		if pod := pods.byName(ns.AsString(), name.AsString()); pod != nil {
			return pod
		}
	}
	if v, ok := attrs.Get(attrPodIP); ok && v.AsString() != "" {
		if pod := pods.byIndex(indexIP, v.AsString()); pod != nil {
			return pod
		}
	}
	if ip := clientIP(ctx); ip != "" {
		return pods.byIndex(indexIP, ip)
	}
	return nil
}

func clientIP(ctx context.Context) string {
	switch a := client.FromContext(ctx).Addr.(type) {
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

func (e *enricher) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		e.enrich(ctx, ld.ResourceLogs().At(i).Resource())
	}
	return ld, nil
}

func (e *enricher) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		e.enrich(ctx, md.ResourceMetrics().At(i).Resource())
	}
	return md, nil
}

func (e *enricher) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		e.enrich(ctx, td.ResourceSpans().At(i).Resource())
	}
	return td, nil
}
