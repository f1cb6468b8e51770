package alertexporter

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/storage/series"
)

// Config is the YAML configuration of the alert exporter.
type Config struct {
	// RuleFiles are Prometheus rule files or globs (required); "builtin:*.yaml" names the
	// built-in packs of deploy/rules. Every file is parsed at validation.
	RuleFiles []string `mapstructure:"rule_files"`
	// Alertmanagers are base URLs of Alertmanagers (e.g. http://127.0.0.1:9093, or with a path
	// prefix); alerts go to each one's /api/v2/alerts. Without any, rules are evaluated (and
	// recording rules feed back) but no alert leaves vigil.
	Alertmanagers []string `mapstructure:"alertmanagers"`
	// ExternalLabels are added to every alert (e.g. cluster, replica), as Prometheus's
	// global.external_labels, and are $externalLabels in templates. Default none.
	ExternalLabels map[string]string `mapstructure:"external_labels"`
	// ExternalURL is the URL of generatorURL links in alerts (default none).
	ExternalURL string `mapstructure:"external_url"`
	// MinEvalInterval is the shortest time between two evaluations of a group triggered by
	// arriving samples (default 1s).
	MinEvalInterval time.Duration `mapstructure:"min_eval_interval"`
	// EvaluationInterval is the interval of groups that set none; every group is also evaluated
	// at least this often without new samples, so that absent() fires, `for` timers advance and
	// firing alerts are re-sent (default 1m, as Prometheus). It is also the step of subqueries
	// without one (`x[5m:]`), as Prometheus's global evaluation interval.
	EvaluationInterval time.Duration `mapstructure:"evaluation_interval"`
	// ResendDelay is the minimum time between two sends of a firing alert (default 1m, as Prometheus).
	ResendDelay time.Duration `mapstructure:"resend_delay"`
	// LookbackDelta is how far back an instant selector looks for a sample (default 5m, as Prometheus).
	LookbackDelta time.Duration `mapstructure:"lookback_delta"`
	// MaxSeries bounds the series held in memory (default 1000000). Samples of further new
	// series are discarded (reason series_limit).
	MaxSeries int `mapstructure:"max_series"`
	// PromoteResourceAttributes are resource attributes that become labels of every sample, with
	// Prometheus's OTLP label naming (k8s.cluster.name -> k8s_cluster_name). service.name,
	// service.namespace and service.instance.id always become job and instance. Default: the
	// Kubernetes identity that vigil stamps (cluster, namespace, pod, node, workloads).
	PromoteResourceAttributes []string `mapstructure:"promote_resource_attributes"`
	// API serves GET /api/v1/rules and /api/v1/alerts in Prometheus's format (for Grafana) when
	// its endpoint is set, e.g. {endpoint: 127.0.0.1:9096}. Default: no endpoint, off.
	API confighttp.ServerConfig `mapstructure:"api"`
	// HTTPAPI, if set, names the httpapi extension (vigil's API port) to serve the read API on,
	// instead of API (the port's readers then guard it).
	HTTPAPI *component.ID `mapstructure:"http_api"`
	// Readers are the identities allowed to read from the api endpoint (a client certificate
	// subject or a bearer token each, as the httpapi extension's readers). Without readers the
	// endpoint must be a loopback address: rules and alerts name clusters, namespaces and pods.
	Readers []httpapiextension.Reader `mapstructure:"readers"`
	// ReloadInterval is how often the rule files are checked for changes; changed files are
	// reloaded keeping the state of unchanged groups (default 30s; 0s: never). A SIGHUP reloads
	// the whole configuration (the collector restarts the exporter; with storage, state is kept).
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// Storage is a storage extension (walstorage, file_storage) that keeps the alert state
	// across restarts: pending `for` timers and firing alerts. Default none: state is lost.
	Storage *component.ID `mapstructure:"storage"`
	// OutageTolerance is how long vigil may be down and still restore the alert state (default
	// 1h, as Prometheus's --rules.alert.for-outage-tolerance).
	OutageTolerance time.Duration `mapstructure:"outage_tolerance"`
	// ForGracePeriod is the least time an alert restored as pending waits before it fires; alerts
	// whose `for` is shorter are not restored (Prometheus's --rules.alert.for-grace-period).
	// Default 0s, so that every pending timer survives a restart (Prometheus's default is 10m).
	ForGracePeriod time.Duration `mapstructure:"for_grace_period"`
	// TakeOverFiring gives an alert that becomes pending here the time it has been active at the
	// Alertmanagers, when one of them already holds the same alert (same labels, external labels
	// included) as firing — sent by another gateway that evaluated these series before it died,
	// or by this one before a restart without storage. Such an alert fires at its next
	// evaluation instead of waiting its `for` again, so a gateway's death neither resolves it nor
	// pages twice (docs/scale-out.md). Default true; only with alertmanagers.
	TakeOverFiring bool `mapstructure:"take_over_firing"`
	// Evidence is what the alerts sent to Alertmanager carry as annotations: the last log lines
	// of the alert's pods, exemplar trace IDs of the rule's series, Grafana Explore links.
	Evidence EvidenceConfig `mapstructure:"evidence"`

	// checkRuleFiles makes Validate report the problems of the rule files (WithRuleFilesChecked).
	checkRuleFiles bool
	_              struct{}
}

// EvidenceConfig configures the evidence annotations (README: "Alerts that carry their evidence").
type EvidenceConfig struct {
	// Enabled attaches evidence to firing alerts (default true). A rule (or its group, with
	// Prometheus's group labels) with the label or annotation vigil_evidence: none gets none.
	Enabled bool `mapstructure:"enabled"`
	// Extension names the evidence extension whose recent-context index gives the log lines
	// (default none: no log lines, only exemplar trace IDs).
	Extension *component.ID `mapstructure:"extension"`
	// MaxLines is how many lines an alert carries, the newest of its pods (default 5).
	MaxLines int `mapstructure:"max_lines"`
	// Window is how long before the alert became active its lines may be (default 15m); the
	// Explore links cover the same range, up to the send.
	Window time.Duration `mapstructure:"window"`
	// MaxBytes bounds the evidence annotations of an alert, names and values (default 4096).
	MaxBytes int `mapstructure:"max_bytes"`
	// MaxTraceIDs is how many exemplar trace IDs an alert carries (default 3, at most 3: the
	// series store keeps 3 per series; 0: none).
	MaxTraceIDs int `mapstructure:"max_trace_ids"`
	// DisabledGroups are rule group names whose alerts carry no evidence (default none).
	DisabledGroups []string `mapstructure:"disabled_groups"`
	// GrafanaURL is Grafana's base URL for Explore links (default none: no links).
	GrafanaURL string `mapstructure:"grafana_url"`
	// GrafanaOrgID is the orgId of the links (default 1).
	GrafanaOrgID int `mapstructure:"grafana_org_id"`
	// LokiDatasourceUID is the uid of the Loki data source of the logs link (default none: no link).
	LokiDatasourceUID string `mapstructure:"loki_datasource_uid"`
	// TracesDatasourceUID is the uid of the trace data source of the trace links (default none: no link).
	TracesDatasourceUID string `mapstructure:"traces_datasource_uid"`
	// TracesDatasourceType is its type: tempo (default) or jaeger.
	TracesDatasourceType string `mapstructure:"traces_datasource_type"`
	_                    struct{}
}

func (c *EvidenceConfig) validate() []error {
	var errs []error
	if c.MaxLines < 0 || c.MaxLines > 100 {
		errs = append(errs, fmt.Errorf("evidence.max_lines: %d must be between 0 and 100", c.MaxLines))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("evidence.window: %q must not be negative", c.Window))
	}
	if c.MaxBytes < 256 || c.MaxBytes > 65536 {
		errs = append(errs, fmt.Errorf("evidence.max_bytes: %d must be between 256 and 65536", c.MaxBytes))
	}
	if c.MaxTraceIDs < 0 || c.MaxTraceIDs > series.MaxExemplarsPerSeries {
		errs = append(errs, fmt.Errorf("evidence.max_trace_ids: %d must be between 0 and %d", c.MaxTraceIDs, series.MaxExemplarsPerSeries))
	}
	if c.GrafanaURL != "" {
		if err := validateGrafanaURL(c.GrafanaURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.GrafanaOrgID < 1 {
		errs = append(errs, fmt.Errorf("evidence.grafana_org_id: %d must be at least 1", c.GrafanaOrgID))
	}
	if c.TracesDatasourceType != "tempo" && c.TracesDatasourceType != "jaeger" {
		errs = append(errs, fmt.Errorf("evidence.traces_datasource_type: %q must be tempo or jaeger", c.TracesDatasourceType))
	}
	return errs
}

func createDefaultConfig() *Config {
	return &Config{
		Evidence: EvidenceConfig{
			Enabled: true, MaxLines: 5, Window: 15 * time.Minute, MaxBytes: 4096, MaxTraceIDs: 3,
			GrafanaOrgID: 1, TracesDatasourceType: "tempo",
		},
		MinEvalInterval:    time.Second,
		EvaluationInterval: time.Minute,
		ResendDelay:        time.Minute,
		LookbackDelta:      5 * time.Minute,
		MaxSeries:          1_000_000,
		OutageTolerance:    time.Hour,
		TakeOverFiring:     true,
		ReloadInterval:     30 * time.Second,
		API:                confighttp.NewDefaultServerConfig(),
		PromoteResourceAttributes: []string{
			"k8s.cluster.name", "k8s.namespace.name", "k8s.node.name", "k8s.pod.name",
			"k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.container.name",
		},
	}
}

// Validate reports every problem of the configuration at once. The contents of the rule files
// are checked only in a configuration made by a factory built WithRuleFilesChecked (`vigil
// validate`): at run time a rule file with problems skips only the groups concerned, and must
// not fail the configuration, which the collector validates again at every start and SIGHUP
// reload (a bad rule file would stop vigil, audit ingestion included).
func (c *Config) Validate() error {
	var errs []error
	if ep := c.API.NetAddr.Endpoint; c.HTTPAPI == nil && ep != "" && len(c.Readers) == 0 && !httpapiextension.Loopback(ep) {
		errs = append(errs, fmt.Errorf("readers: must be set when api.endpoint %q is not a loopback address (anonymous reads are local only), or serve the API on the API port (http_api)", ep))
	}
	errs = append(errs, httpapiextension.ValidateReaders("readers", c.Readers)...)
	if len(c.RuleFiles) == 0 {
		errs = append(errs, errors.New("rule_files: must list at least one rule file or glob"))
	}
	for _, p := range c.RuleFiles {
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("rule_files: %q is not a valid glob: %w", p, err))
		}
	}
	if len(errs) == 0 && c.checkRuleFiles {
		if _, err := rulefiles.Load(c.RuleFiles); err != nil {
			errs = append(errs, fmt.Errorf("rule_files: %w", err))
		}
	}
	for _, a := range c.Alertmanagers {
		if _, err := parseAlertmanagerURL(a); err != nil {
			errs = append(errs, fmt.Errorf("alertmanagers: %w", err))
		}
	}
	for k, v := range c.ExternalLabels {
		if !model.LegacyValidation.IsValidLabelName(k) {
			errs = append(errs, fmt.Errorf("external_labels: %q is not a valid label name (letters, digits and '_', not starting with a digit)", k))
		}
		if v == "" {
			errs = append(errs, fmt.Errorf("external_labels: %q has an empty value", k))
		}
	}
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("external_url: %q must be an absolute http(s) URL", c.ExternalURL))
		}
	}
	durations := []struct {
		key      string
		v, least time.Duration
	}{
		{"min_eval_interval", c.MinEvalInterval, 10 * time.Millisecond},
		{"evaluation_interval", c.EvaluationInterval, time.Second},
		{"resend_delay", c.ResendDelay, 0},
		{"lookback_delta", c.LookbackDelta, time.Second},
		{"outage_tolerance", c.OutageTolerance, 0},
		{"reload_interval", c.ReloadInterval, 0},
		{"for_grace_period", c.ForGracePeriod, 0},
	}
	for _, d := range durations {
		if d.v < d.least {
			errs = append(errs, fmt.Errorf("%s: %q must be at least %s", d.key, d.v, d.least))
		}
	}
	if c.MinEvalInterval > c.EvaluationInterval {
		errs = append(errs, fmt.Errorf("min_eval_interval: %q must not exceed evaluation_interval %q", c.MinEvalInterval, c.EvaluationInterval))
	}
	errs = append(errs, c.Evidence.validate()...)
	if c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("max_series: %d must be at least 1", c.MaxSeries))
	}
	return errors.Join(errs...)
}

// parseAlertmanagerURL checks an Alertmanager base URL.
func parseAlertmanagerURL(s string) (*url.URL, error) {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return nil, fmt.Errorf("%q must start with http:// or https://", s)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL: %w", s, err)
	case u.Host == "":
		return nil, fmt.Errorf("%q has no host", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("%q must be a base URL without user, query or fragment", s)
	}
	return u, nil
}
