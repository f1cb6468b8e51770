package otlprelayreceiver

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/k8spod"
	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// pods adds pod metadata to each resource of a request (pod_metadata).
type pods struct {
	cfg    *PodMetadataConfig
	logger *zap.Logger
	cache  *k8spod.Cache
	hit    metric.MeasurementOption
	miss   metric.MeasurementOption
	// lookups counts pod associations, by result.
	lookups metric.Int64Counter
}

// kubeClient, when set, replaces the client of the Kubernetes API built from pod_metadata (tests).
var kubeClient k8spod.Pods

var attrBuffers = sync.Pool{New: func() any { b := make([]otlpwire.Attr, 0, 32); return &b }}

func newPods(set receiver.Settings, lookups metric.Int64Counter, cfg *PodMetadataConfig) *pods {
	return &pods{cfg: cfg, logger: set.Logger, lookups: lookups,
		hit:  metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "hit"))),
		miss: metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "miss")))}
}

// start fills the cache of the node's pods, waiting at most sync_timeout for the first listing.
func (p *pods) start(ctx context.Context) error {
	cache, err := k8spod.StartCache(ctx, kubeClient, p.cfg.Config, p.cfg.NodeName, p.logger)
	if err != nil {
		return err
	}
	p.cache = cache
	return nil
}

// shutdown stops the cache's informer. The cache stays readable (as it was) for a request
// still running past the receiver's shutdown deadline.
func (p *pods) shutdown() {
	if p.cache != nil {
		p.cache.Shutdown()
	}
}

// stamp appends req to dst with attrs, then the attributes of the pod each resource came
// from, set on every resource (k8spod.Cache.Find gives the association; a resource without a
// pod gets attrs alone).
func (p *pods) stamp(ctx context.Context, dst, req []byte, s otlpwire.Signal, attrs []otlpwire.Attr) ([]byte, error) {
	bp := attrBuffers.Get().(*[]otlpwire.Attr)
	defer attrBuffers.Put(bp)
	clientIP := k8spod.ClientIP(client.FromContext(ctx).Addr)
	hits, misses := int64(0), int64(0)
	out, err := otlpwire.SetResourceAttributesFunc(dst, req, s, func(res otlpwire.Resource) []otlpwire.Attr {
		set := append((*bp)[:0], attrs...)
		if pod := p.cache.Find(res.Str, clientIP); pod != nil {
			set = p.cache.AppendAttributes(set, pod)
			hits++
		} else {
			misses++
		}
		*bp = set[:0]
		return set
	})
	if hits > 0 {
		p.lookups.Add(ctx, hits, p.hit)
	}
	if misses > 0 {
		p.lookups.Add(ctx, misses, p.miss)
	}
	return out, err
}
