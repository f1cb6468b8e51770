package clusteridentityprocessor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ClusterAttribute is both the resource attribute enforced and the client.Info.Auth attribute
// that carries the authenticated cluster.
const ClusterAttribute = "k8s.cluster.name"

// Reasons for discarded items (label "reason" of vigil_clusteridentity_discarded_items_total).
const (
	reasonMismatch        = "cluster_mismatch"
	reasonUnauthenticated = "unauthenticated"
)

// enforcer holds what the three signal processors share. It is safe for concurrent use.
type enforcer struct {
	cfg         *Config
	logger      *zap.Logger
	discarded   metric.Int64Counter
	overwritten metric.Int64Counter
}

func newEnforcer(set processor.Settings, cfg *Config) (*enforcer, error) {
	meter := set.MeterProvider.Meter("github.com/vigil-obs/vigil/processors/clusteridentityprocessor")
	discarded, err := meter.Int64Counter("vigil_clusteridentity_discarded_items",
		metric.WithDescription("Items refused because the client's credential does not allow their k8s.cluster.name, by reason and signal."),
		metric.WithUnit("{items}"))
	if err != nil {
		return nil, err
	}
	overwritten, err := meter.Int64Counter("vigil_clusteridentity_overwritten_items",
		metric.WithDescription("Items whose claimed k8s.cluster.name was replaced by the authenticated cluster (on_mismatch: overwrite)."),
		metric.WithUnit("{items}"))
	if err != nil {
		return nil, err
	}
	return &enforcer{cfg: cfg, logger: set.Logger, discarded: discarded, overwritten: overwritten}, nil
}

func (e *enforcer) Start(context.Context, component.Host) error { return nil }
func (e *enforcer) Shutdown(context.Context) error              { return nil }

// authenticated returns the cluster that the authenticator put into the context, "" if none.
func authenticated(ctx context.Context) string {
	info := client.FromContext(ctx)
	if info.Auth == nil {
		return ""
	}
	s, _ := info.Auth.GetAttribute(ClusterAttribute).(string)
	return s
}

// request is the enforcement state of one request.
type request struct {
	e       *enforcer
	ctx     context.Context
	signal  string
	cluster string
	claims  map[string]int // rejected claimed cluster -> resources
	items   int            // rejected items
	total   int            // resources seen
}

func (e *enforcer) begin(ctx context.Context, signal string, items int) (*request, error) {
	cluster := authenticated(ctx)
	if cluster == "" && e.cfg.RequireAuthentication {
		e.discarded.Add(ctx, int64(items), metric.WithAttributes(
			attribute.String("reason", reasonUnauthenticated), attribute.String("signal", signal)))
		return nil, status.Error(codes.Unauthenticated,
			"no authenticated cluster for this request: the receiver must use the clusterauth authenticator"+
				" (or set processors.clusteridentity.require_authentication: false)")
	}
	return &request{e: e, ctx: ctx, signal: signal, cluster: cluster}, nil
}

// admit applies the policy to one resource holding n items and says whether to keep it.
func (r *request) admit(res pcommon.Resource, n int) bool {
	r.total++
	if r.cluster == "" {
		return true
	}
	attrs := res.Attributes()
	claimed, ok := attrs.Get(ClusterAttribute)
	switch {
	case !ok || claimed.AsString() == "" || claimed.AsString() == r.cluster:
		attrs.PutStr(ClusterAttribute, r.cluster)
		return true
	case r.e.cfg.OnMismatch == OnMismatchOverwrite:
		attrs.PutStr(ClusterAttribute, r.cluster)
		r.e.overwritten.Add(r.ctx, int64(n), metric.WithAttributes(attribute.String("signal", r.signal)))
		return true
	}
	if r.claims == nil {
		r.claims = map[string]int{}
	}
	r.claims[claimed.AsString()]++
	r.items += n
	r.e.discarded.Add(r.ctx, int64(n), metric.WithAttributes(
		attribute.String("reason", reasonMismatch), attribute.String("signal", r.signal)))
	return false
}

// finish returns the error for the client: the downstream error if there was one (so that the
// client retries), else PermissionDenied naming what was rejected, else nil.
func (r *request) finish(downstream error) error {
	if downstream != nil || len(r.claims) == 0 {
		return downstream
	}
	claimed := make([]string, 0, len(r.claims))
	resources := 0
	for c, n := range r.claims {
		claimed = append(claimed, fmt.Sprintf("%q", c))
		resources += n
	}
	sort.Strings(claimed)
	msg := fmt.Sprintf("rejected %d of %d resources (%d %s): the credential of cluster %q cannot write as k8s.cluster.name %s"+
		" (processors.clusteridentity.on_mismatch: reject); the other resources were accepted",
		resources, r.total, r.items, r.signal, r.cluster, strings.Join(claimed, ", "))
	r.e.logger.Warn("rejected data claiming another cluster",
		zap.String("cluster", r.cluster), zap.Strings("claimed", claimed), zap.Int("items", r.items), zap.String("signal", r.signal))
	return status.Error(codes.PermissionDenied, msg)
}
