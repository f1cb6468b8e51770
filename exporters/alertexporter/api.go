package alertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
)

// The read API answers GET /api/v1/rules and GET /api/v1/alerts in Prometheus's JSON format, so
// that Grafana (a Prometheus data source pointed at it) and Prometheus's API clients show vigil's
// rules and alerts.

type apiAlert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

type apiRule struct {
	State          string        `json:"state,omitempty"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       float64       `json:"duration,omitempty"`
	KeepFiringFor  float64       `json:"keepFiringFor,omitempty"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations,omitempty"`
	Alerts         []apiAlert    `json:"alerts,omitempty"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

type apiGroup struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Rules          []apiRule `json:"rules"`
	Interval       float64   `json:"interval"`
	Limit          int       `json:"limit"`
	EvaluationTime float64   `json:"evaluationTime"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func alertsOf(r *rules.AlertingRule) []apiAlert {
	out := []apiAlert{}
	for _, a := range r.ActiveAlerts() {
		x := apiAlert{
			Labels: a.Labels, Annotations: a.Annotations, State: a.State.String(),
			ActiveAt: &a.ActiveAt, Value: strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			x.KeepFiringSince = &a.KeepFiringSince
		}
		out = append(out, x)
	}
	return out
}

func ruleOf(r rules.Rule) apiRule {
	x := apiRule{
		Name: r.Name(), Query: r.Query().String(), Labels: r.Labels(), Health: string(r.Health()),
		EvaluationTime: r.GetEvaluationDuration().Seconds(), LastEvaluation: r.GetEvaluationTimestamp(),
		Type: "recording",
	}
	if err := r.LastError(); err != nil {
		x.LastError = err.Error()
	}
	if ar, ok := r.(*rules.AlertingRule); ok {
		x.Type, x.State = "alerting", ar.State().String()
		x.Duration, x.KeepFiringFor = ar.HoldDuration().Seconds(), ar.KeepFiringFor().Seconds()
		x.Annotations, x.Alerts = ar.Annotations(), alertsOf(ar)
	}
	return x
}

func writeAPI(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func (e *alertExporter) serveRules(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("type") // "alert", "record" or all
	if want != "" && want != "alert" && want != "record" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "bad_data",
			"error": fmt.Sprintf("type: %q must be alert or record", want)})
		return
	}
	gen := e.gen.Load()
	groups := []apiGroup{}
	for _, g := range gen.groups {
		ag := apiGroup{
			Name: g.Name(), File: g.File(), Rules: []apiRule{}, Interval: g.Interval().Seconds(), Limit: g.Limit(),
			EvaluationTime: g.GetEvaluationTime().Seconds(), LastEvaluation: g.GetLastEvaluation(),
		}
		for _, rl := range g.Rules() {
			x := ruleOf(rl)
			if (want == "alert" && x.Type != "alerting") || (want == "record" && x.Type != "recording") {
				continue
			}
			ag.Rules = append(ag.Rules, x)
		}
		groups = append(groups, ag)
	}
	groups = append(groups, apiGroupsOfSkipped(gen.skipped, e.cfg.EvaluationInterval.Seconds(), want)...)
	writeAPI(w, map[string]any{"groups": groups})
}

func (e *alertExporter) serveAlerts(w http.ResponseWriter, _ *http.Request) {
	alerts := []apiAlert{}
	for _, g := range e.gen.Load().groups {
		for _, rl := range g.Rules() {
			if ar, ok := rl.(*rules.AlertingRule); ok {
				alerts = append(alerts, alertsOf(ar)...)
			}
		}
	}
	writeAPI(w, map[string]any{"alerts": alerts})
}

// routes are the read API's paths: rules and alerts, and queries over the series store.
func (e *alertExporter) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /api/v1/rules":               http.HandlerFunc(e.serveRules),
		"GET /api/v1/alerts":              http.HandlerFunc(e.serveAlerts),
		"/api/v1/query":                   http.HandlerFunc(e.serveQuery),
		"/api/v1/query_range":             http.HandlerFunc(e.serveQueryRange),
		"/api/v1/labels":                  http.HandlerFunc(e.serveLabels),
		"GET /api/v1/label/{name}/values": http.HandlerFunc(e.serveLabels),
	}
}

// startAPI serves the read API on the shared API port (http_api) or its own server (api), when
// either is configured; its own server is stopped by stopAPI.
func (e *alertExporter) startAPI(ctx context.Context, host component.Host) error {
	if e.cfg.HTTPAPI != nil {
		api, err := httpapiextension.Lookup(host, *e.cfg.HTTPAPI, "alert http_api")
		if err != nil {
			return err
		}
		for pattern, h := range e.routes() {
			if err := api.Handle(pattern, h); err != nil {
				return err
			}
		}
		return nil
	}
	if e.cfg.API.NetAddr.Endpoint == "" {
		return nil
	}
	var readers httpapiextension.Readers
	readers.Add(e.cfg.Readers)
	httpapiextension.WarnPlainTokens(e.set.Logger, e.cfg.API.NetAddr.Endpoint, e.cfg.API.TLS.HasValue(), e.cfg.Readers, "the alert exporter's api")
	srv, err := httpapiextension.Serve(ctx, &e.cfg.API, host, e.set.TelemetrySettings,
		readers.Guard(e.cfg.API.NetAddr.Endpoint, httpapiextension.Mux(e.routes())), "api endpoint")
	e.api = srv
	return err
}

func (e *alertExporter) stopAPI(ctx context.Context) {
	_ = e.api.Shutdown(ctx)
}
