package k8senrichprocessor

import (
	"context"
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

	"github.com/vigil-obs/vigil/internal/k8spod"
	"github.com/vigil-obs/vigil/processors/k8senrichprocessor/internal/metadata"
)

const (
	attrCluster = k8spod.AttrCluster
	attrNode    = k8spod.AttrNode
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
	client  k8spod.Pods // nil: built from cfg at start

	mu     sync.Mutex
	starts int
	pods   atomic.Pointer[k8spod.Cache]
}

// newEnricher returns the enricher of cfg, creating it on first use. client, when not nil,
// replaces the API client built from the configuration (tests).
func newEnricher(set processor.Settings, cfg *Config, client k8spod.Pods) (*enricher, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if e, ok := shared[cfg]; ok {
		return e, nil
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &enricher{cfg: cfg, logger: set.Logger, lookups: tb.K8senrichPodLookups, client: client}
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
	pods, err := k8spod.StartCache(ctx, e.client, e.cfg.PodMetadata, e.cfg.NodeName, e.logger)
	if err != nil {
		e.starts--
		return err
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
		pods.Shutdown()
	}
	sharedMu.Lock()
	delete(shared, e.cfg)
	sharedMu.Unlock()
	return nil
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
	pod := pods.Find(func(key string) (string, bool) {
		if v, ok := attrs.Get(key); ok {
			return v.AsString(), true
		}
		return "", false
	}, k8spod.ClientIP(client.FromContext(ctx).Addr))
	result := "miss"
	if pod != nil {
		result = "hit"
		for _, a := range pods.AppendAttributes(nil, pod) {
			attrs.PutStr(a.Key, a.Value)
		}
	}
	e.lookups.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
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
