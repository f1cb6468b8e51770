package clusteridentityprocessor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/processors/clusteridentityprocessor/internal/metadata"
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
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &enforcer{cfg: cfg, logger: set.Logger, discarded: tb.ClusteridentityDiscardedItems, overwritten: tb.ClusteridentityOverwrittenItems}, nil
}

func (e *enforcer) Start(context.Context, component.Host) error { return nil }
func (e *enforcer) Shutdown(context.Context) error              { return nil }

// authenticated returns the cluster that the authenticator put into the context, "" if none.
func authenticated(ctx context.Context) string { return clusterauthextension.ClusterFrom(ctx) }

// request is the enforcement state of one request.
type request struct {
	e         *enforcer
	ctx       context.Context
	signal    string
	cluster   string
	claims    map[string]int // rejected claimed cluster -> resources, scopes or items claiming it
	resources int            // rejected resources
	resItems  int            // items of the rejected resources
	items     int            // items rejected for a claim in their scope's or their own attributes
	total     int            // resources seen
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
	r.resources++
	r.resItems += n
	r.refuse(claimed.AsString(), n)
	return false
}

// lower applies the policy to the attributes below an admitted resource: those of a scope (n =
// its items) or of one item (n = 1) with the attributes of its parts (a span's events, a data
// point's exemplars). The cluster is the resource's alone: a lower-level k8s.cluster.name that
// names another cluster would let exporters that merge attributes (Prometheus's OTLP translation
// lets data point attributes win) write as that cluster. Such a claim is refused with its items
// (reject) or removed (overwrite); an empty or equal claim is removed or kept, uncounted.
func (r *request) lower(n int, maps ...pcommon.Map) bool {
	if r.cluster == "" {
		return true
	}
	claimed := ""
	for _, m := range maps {
		v, ok := m.Get(ClusterAttribute)
		if !ok {
			continue
		}
		switch c := v.AsString(); {
		case c == "":
			m.Remove(ClusterAttribute)
		case c != r.cluster && claimed == "":
			claimed = c
		}
	}
	if claimed == "" {
		return true
	}
	if r.e.cfg.OnMismatch == OnMismatchOverwrite {
		for _, m := range maps {
			if v, ok := m.Get(ClusterAttribute); ok && v.AsString() != r.cluster {
				m.Remove(ClusterAttribute)
			}
		}
		r.e.overwritten.Add(r.ctx, int64(n), metric.WithAttributes(attribute.String("signal", r.signal)))
		return true
	}
	r.items += n
	r.refuse(claimed, n)
	return false
}

// refuse counts n items refused for claiming cluster claimed.
func (r *request) refuse(claimed string, n int) {
	if r.claims == nil {
		r.claims = map[string]int{}
	}
	r.claims[claimed]++
	r.e.discarded.Add(r.ctx, int64(n), metric.WithAttributes(
		attribute.String("reason", reasonMismatch), attribute.String("signal", r.signal)))
}

// finish returns the error for the client: the downstream error if there was one (so that the
// client retries), else PermissionDenied naming what was rejected, else nil.
func (r *request) finish(downstream error) error {
	if downstream != nil || len(r.claims) == 0 {
		return downstream
	}
	claimed := make([]string, 0, len(r.claims))
	for c := range r.claims {
		claimed = append(claimed, fmt.Sprintf("%q", c))
	}
	sort.Strings(claimed)
	var what []string
	if r.resources > 0 {
		what = append(what, fmt.Sprintf("%d of %d resources (%d %s)", r.resources, r.total, r.resItems, r.signal))
	}
	if r.items > 0 {
		what = append(what, fmt.Sprintf("%d %s whose scope or own attributes claim another cluster", r.items, r.signal))
	}
	msg := fmt.Sprintf("rejected %s: the credential of cluster %q cannot write as k8s.cluster.name %s"+
		" (processors.clusteridentity.on_mismatch: reject); the rest of the request was accepted",
		strings.Join(what, " and "), r.cluster, strings.Join(claimed, ", "))
	r.e.logger.Warn("rejected data claiming another cluster",
		zap.String("cluster", r.cluster), zap.Strings("claimed", claimed), zap.Int("items", r.resItems+r.items), zap.String("signal", r.signal))
	return status.Error(codes.PermissionDenied, msg)
}
