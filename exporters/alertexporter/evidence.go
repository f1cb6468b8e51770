package alertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

// The annotations that carry an alert's evidence.
const (
	AnnotationLogs       = "vigil_logs"
	AnnotationTraceIDs   = "vigil_trace_ids"
	AnnotationExploreURL = "vigil_logs_explore_url"
	AnnotationTraceURL   = "vigil_trace_url" // the first trace; vigil_trace_url_2, _3 the next ones
	// EvidenceLabel, as a rule's (or a group's) label or a rule's annotation, with the value
	// "none", turns the evidence off for that rule's alerts.
	EvidenceLabel = "vigil_evidence"
)

// evidence computes the evidence annotations of alerts from the recent-context index and the
// series store's exemplars. It never makes a network call and holds no lock across a send.
type evidence struct {
	cfg      EvidenceConfig
	index    *evidenceextension.Index // nil: no log lines
	store    func() *series.Store
	disabled map[string]bool // group names
	now      func() time.Time

	mu        sync.Mutex
	selectors map[string][][]*labels.Matcher // by expression
}

func newEvidence(cfg EvidenceConfig, index *evidenceextension.Index, store func() *series.Store) *evidence {
	ev := &evidence{cfg: cfg, index: index, store: store, disabled: map[string]bool{}, now: time.Now,
		selectors: map[string][][]*labels.Matcher{}}
	for _, g := range cfg.DisabledGroups {
		ev.disabled[g] = true
	}
	return ev
}

// notifyFunc wraps next (rules.SendAlerts): each firing alert is handed on with its evidence
// annotations added; the rule's own alert is not modified. group names the group of an
// evaluation from its context.
func (ev *evidence) notifyFunc(next rules.NotifyFunc, group func(context.Context) string) rules.NotifyFunc {
	return func(ctx context.Context, expr string, alerts ...*rules.Alert) {
		if ev.disabled[group(ctx)] {
			next(ctx, expr, alerts...)
			return
		}
		out := make([]*rules.Alert, len(alerts))
		for i, a := range alerts {
			out[i] = a
			if !a.ResolvedAt.IsZero() || a.Labels.Get(EvidenceLabel) == "none" || a.Annotations.Get(EvidenceLabel) == "none" {
				continue
			}
			c := *a
			c.Annotations = ev.annotate(expr, a)
			out[i] = &c
		}
		next(ctx, expr, out...)
	}
}

// annotate returns a's annotations with the evidence added, within max_bytes.
func (ev *evidence) annotate(expr string, a *rules.Alert) labels.Labels {
	now := ev.now()
	since := a.ActiveAt.Add(-ev.cfg.Window)
	q := evidenceextension.Query{Resource: resourceOf(a.Labels), Since: since, Max: ev.cfg.MaxLines}
	var lines []evidenceextension.Line
	if ev.index != nil {
		lines = ev.index.Lookup(q)
	}
	traces := ev.traceIDs(expr, a.Labels)

	b := labels.NewBuilder(a.Annotations)
	budget := ev.cfg.MaxBytes
	put := func(k, v string) bool {
		if v == "" || len(k)+len(v) > budget {
			return false
		}
		budget -= len(k) + len(v)
		b.Set(k, v)
		return true
	}
	put(AnnotationTraceIDs, strings.Join(traces, ","))
	if ev.index != nil && ev.cfg.GrafanaURL != "" && ev.cfg.LokiDatasourceUID != "" {
		if logQL := LogQL(q.Resource, lines); logQL != "" {
			put(AnnotationExploreURL, ev.explore(ev.cfg.LokiDatasourceUID, "loki",
				map[string]any{"expr": logQL, "queryType": "range"}, since, now))
		}
	}
	if text := formatLines(lines, budget-len(AnnotationLogs)); text != "" {
		put(AnnotationLogs, text)
	}
	if ev.cfg.GrafanaURL != "" && ev.cfg.TracesDatasourceUID != "" {
		for i, id := range traces {
			k := AnnotationTraceURL
			if i > 0 {
				k += "_" + strconv.Itoa(i+1)
			}
			query := map[string]any{"query": id}
			if ev.cfg.TracesDatasourceType == "tempo" {
				query["queryType"] = "traceql"
			}
			put(k, ev.explore(ev.cfg.TracesDatasourceUID, ev.cfg.TracesDatasourceType, query, since, now))
		}
	}
	return b.Labels()
}

// resourceOf is what an alert's labels say of the resources concerned.
func resourceOf(l labels.Labels) evidenceextension.Resource {
	first := func(names ...string) string {
		for _, n := range names {
			if v := l.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
	service := first("service_name", "service")
	if service == "" {
		job := l.Get("job") // OTLP: service.namespace/service.name
		service = job[strings.LastIndexByte(job, '/')+1:]
	}
	return evidenceextension.Resource{
		Cluster:   l.Get("k8s_cluster_name"),
		Namespace: first("k8s_namespace_name", "namespace"),
		Pod:       first("k8s_pod_name", "pod"),
		Service:   service,
		Instance:  l.Get("instance"),
	}
}

// formatLines renders lines, oldest first, one per line ("<time> <source> <level>: <text>"),
// within limit bytes: the oldest are left out first, and a single line that does not fit is cut.
func formatLines(lines []evidenceextension.Line, limit int) string {
	if limit <= 0 {
		return ""
	}
	rendered := make([]string, len(lines))
	for i, l := range lines {
		src := l.Resource.Pod
		if src == "" {
			src = strings.Trim(l.Resource.Service+"/"+l.Resource.Instance, "/")
		}
		rendered[i] = l.Time.UTC().Format(time.RFC3339) + " " + src + " " + l.Level + ": " + l.Text
	}
	total := 0
	start := len(rendered)
	for start > 0 {
		n := len(rendered[start-1])
		if start < len(rendered) {
			n++ // the newline
		}
		if total+n > limit {
			break
		}
		total += n
		start--
	}
	if start == len(rendered) && len(rendered) > 0 { // not even the newest fits: cut it
		return cutString(rendered[len(rendered)-1], limit)
	}
	return strings.Join(rendered[start:], "\n")
}

// cutString shortens s to at most n bytes at a UTF-8 boundary, ending in "…" when cut.
func cutString(s string, n int) string {
	const mark = "…"
	if len(s) <= n {
		return s
	}
	if n < len(mark) {
		return ""
	}
	end := n - len(mark)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + mark
}

// LogQL is a Loki query for the warning-or-worse lines of the resources of lines (as the
// lokipush exporter labels them: cluster, namespace, service_name, level; pod and
// service_instance_id as structured metadata), or, without lines, of what the alert names (r).
// Empty when it would name nothing narrower than the level.
func LogQL(r evidenceextension.Resource, lines []evidenceextension.Line) string {
	var clusters, namespaces, pods, services, instances []string
	add := func(list *[]string, v string) bool {
		if v == "" {
			return false
		}
		if !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
		return true
	}
	all := map[string]bool{"cluster": true, "namespace": true, "pod": true, "service": true, "instance": true}
	srcs := []evidenceextension.Resource{r}
	if len(lines) > 0 {
		srcs = srcs[:0]
		for _, l := range lines {
			srcs = append(srcs, l.Resource)
		}
	}
	for _, s := range srcs {
		all["cluster"] = add(&clusters, s.Cluster) && all["cluster"]
		all["namespace"] = add(&namespaces, s.Namespace) && all["namespace"]
		all["pod"] = add(&pods, s.Pod) && all["pod"]
		all["service"] = add(&services, s.Service) && all["service"]
		all["instance"] = add(&instances, s.Instance) && all["instance"]
	}
	var sel, filter []string
	matcher := func(name string, values []string) string {
		if len(values) == 1 {
			return name + "=" + strconv.Quote(values[0])
		}
		q := make([]string, len(values))
		for i, v := range values {
			q[i] = regexp.QuoteMeta(v)
		}
		slices.Sort(q)
		return name + "=~" + strconv.Quote(strings.Join(q, "|"))
	}
	if all["cluster"] {
		sel = append(sel, matcher("cluster", clusters))
	}
	if all["namespace"] {
		sel = append(sel, matcher("namespace", namespaces))
	}
	switch {
	case all["pod"]:
		filter = append(filter, matcher("pod", pods))
	case all["instance"]:
		filter = append(filter, matcher("service_instance_id", instances))
		if all["service"] {
			sel = append(sel, matcher("service_name", services))
		}
	case all["service"]:
		sel = append(sel, matcher("service_name", services))
	}
	if len(sel)+len(filter) == 0 {
		return ""
	}
	sel = append(sel, `level=~"warn|error|fatal"`)
	out := "{" + strings.Join(sel, ", ") + "}"
	for _, f := range filter {
		out += " | " + f
	}
	return out
}

// explore is a Grafana Explore link with one query on a data source, over [from, to].
func (ev *evidence) explore(uid, typ string, query map[string]any, from, to time.Time) string {
	query["refId"] = "A"
	query["datasource"] = map[string]string{"type": typ, "uid": uid}
	panes := map[string]any{"vigil": map[string]any{
		"datasource": uid,
		"queries":    []any{query},
		"range":      map[string]string{"from": strconv.FormatInt(from.UnixMilli(), 10), "to": strconv.FormatInt(to.UnixMilli(), 10)},
	}}
	b, err := json.Marshal(panes)
	if err != nil {
		return ""
	}
	v := url.Values{"schemaVersion": {"1"}, "orgId": {strconv.Itoa(ev.cfg.GrafanaOrgID)}, "panes": {string(b)}}
	return strings.TrimSuffix(ev.cfg.GrafanaURL, "/") + "/explore?" + v.Encode()
}

// traceIDs are up to max_trace_ids trace IDs of exemplars, newest first, of the series that the
// rule's expression selects and whose labels agree with the alert's.
func (ev *evidence) traceIDs(expr string, alert labels.Labels) []string {
	st := ev.store()
	if st == nil || ev.cfg.MaxTraceIDs == 0 {
		return nil
	}
	agree := func(l labels.Labels) bool {
		ok := true
		l.Range(func(x labels.Label) {
			if x.Name == labels.MetricName || !ok {
				return
			}
			if v := alert.Get(x.Name); v != "" && v != x.Value {
				ok = false
			}
		})
		return ok
	}
	var out []string
	for _, ms := range ev.selectorsOf(expr) {
		for _, e := range st.Exemplars(ms, agree, ev.cfg.MaxTraceIDs) {
			if !slices.Contains(out, e.TraceID) && len(out) < ev.cfg.MaxTraceIDs {
				out = append(out, e.TraceID)
			}
		}
	}
	return out
}

// maxCachedExprs bounds the parsed expressions kept (there is one per alerting rule).
const maxCachedExprs = 10_000

func (ev *evidence) selectorsOf(expr string) [][]*labels.Matcher {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if s, ok := ev.selectors[expr]; ok {
		return s
	}
	var s [][]*labels.Matcher
	if e, err := rulefiles.Parser.ParseExpr(expr); err == nil {
		s = parser.ExtractSelectors(e)
	}
	if len(ev.selectors) >= maxCachedExprs {
		clear(ev.selectors)
	}
	ev.selectors[expr] = s
	return s
}

// validateGrafanaURL checks grafana_url.
func validateGrafanaURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("evidence.grafana_url: %q must be an absolute http(s) URL", s)
	}
	return nil
}
