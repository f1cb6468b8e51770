package collectorcli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
)

// A backend left unconfigured is simply not in the pipeline: the role configs define the exporter
// of an optional backend with an endpoint read from the environment that defaults to empty, e.g.
//
//	otlp_grpc/traces:
//	  endpoint: ${env:VIGIL_TRACES_ENDPOINT:-}
//
// and NewUnsetBackendsConverter takes such an exporter, when its endpoint is empty, out of the
// configuration (its section and every pipeline that names it) before the collector decodes it.
// vigil then starts without that backend; `vigil validate` and the start banner say what to set.
// Only the exporters listed in optionalBackends are left out: any other exporter with an empty
// endpoint keeps the collector's error, so that no destination (audit data's least of all) is
// dropped because a variable was not set.

// optionalBackends lists the optional backends' exporters of the shipped role configs, with what
// to set to configure them.
var optionalBackends = map[string]backendHint{
	"promrw": {
		env:    "VIGIL_PROMRW_URL",
		detail: "a Prometheus remote-write URL (e.g. http://prometheus:9090/api/v1/write; Prometheus with --web.enable-remote-write-receiver, Thanos Receive, Mimir); labels: docs/prometheus-labels.md",
	},
	"lokipush": {
		env:    "VIGIL_LOKI_URL",
		detail: "Loki's base URL (e.g. http://loki-gateway.loki:80); labels and structured metadata: exporters/lokipushexporter/README.md",
	},
	"otlp_grpc/traces": {
		env: "VIGIL_TRACES_ENDPOINT",
		detail: "a trace backend's OTLP/gRPC host:port (Tempo, Jaeger: e.g. tempo:4317); VIGIL_TRACES_INSECURE=true for plaintext, " +
			"VIGIL_TRACES_CA_FILE, VIGIL_TRACES_CERT_FILE and VIGIL_TRACES_KEY_FILE for TLS",
	},
}

// OptionalBackends returns the ids of the optional backends' exporters, sorted.
func OptionalBackends() []string {
	ids := make([]string, 0, len(optionalBackends))
	for id := range optionalBackends {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// backendHint is the environment variable that sets an exporter's endpoint, and what to set it to.
type backendHint struct{ env, detail string }

// unsetBackend is an optional backend's exporter with an empty endpoint and the pipelines that
// name it.
type unsetBackend struct {
	id        string   // e.g. otlp_grpc/traces
	pipelines []string // sorted
}

// what says what to set, in a few words.
func (u unsetBackend) what() string { return "set " + optionalBackends[u.id].env }

// note is the line `vigil validate` prints about an unset backend.
func (u unsetBackend) note() string {
	return fmt.Sprintf("%s: exporters::%s::endpoint is empty, so %s is left out of the pipeline; %s to %s",
		strings.Join(u.pipelines, ", "), u.id, u.id, u.what(), optionalBackends[u.id].detail)
}

// unsetBackends lists, sorted by id, the optional backends' exporters of a resolved
// configuration whose endpoint key is present and empty.
func unsetBackends(m map[string]any) []unsetBackend {
	exporters, _ := m["exporters"].(map[string]any)
	var out []unsetBackend
	for id, c := range exporters {
		if _, optional := optionalBackends[id]; !optional {
			continue
		}
		cm, _ := c.(map[string]any)
		ep, present := cm["endpoint"]
		if s, isString := ep.(string); !present || (ep != nil && (!isString || strings.TrimSpace(s) != "")) {
			continue
		}
		u := unsetBackend{id: id}
		service, _ := m["service"].(map[string]any)
		pipelines, _ := service["pipelines"].(map[string]any)
		for pid, p := range pipelines {
			pm, _ := p.(map[string]any)
			if slices.Contains(list(pm["exporters"]), id) {
				u.pipelines = append(u.pipelines, pid)
			}
		}
		sort.Strings(u.pipelines)
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// NewUnsetBackendsConverter takes the optional backends' exporters with an empty endpoint out of
// the configuration.
// A pipeline left without any exporter is an error that says what to set.
func NewUnsetBackendsConverter() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return unsetBackendsConverter{} })
}

type unsetBackendsConverter struct{}

func (unsetBackendsConverter) Convert(_ context.Context, conf *confmap.Conf) error {
	unset := unsetBackends(conf.ToStringMap())
	if len(unset) == 0 {
		return nil
	}
	drop := map[string]bool{}
	for _, u := range unset {
		drop[u.id] = true
		conf.Delete("exporters::" + u.id)
	}
	var errs []error
	pipelines, _ := conf.Get("service::pipelines").(map[string]any)
	ids := make([]string, 0, len(pipelines))
	for id := range pipelines {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pm, _ := pipelines[id].(map[string]any)
		names := list(pm["exporters"])
		kept := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return drop[n] })
		if len(kept) == len(names) {
			continue
		}
		if len(kept) == 0 {
			var notes []string
			for _, u := range unset {
				if slices.Contains(u.pipelines, id) {
					notes = append(notes, u.note())
				}
			}
			errs = append(errs, fmt.Errorf("service::pipelines::%s: no exporter left: %s", id, strings.Join(notes, "; ")))
			continue
		}
		key := "service::pipelines::" + id + "::exporters"
		conf.Delete(key)
		items := make([]any, len(kept))
		for i, n := range kept {
			items[i] = n
		}
		if err := conf.Merge(confmap.NewFromStringMap(map[string]any{key: items})); err != nil {
			errs = append(errs, fmt.Errorf("cannot set %s: %w", key, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("unconfigured backends: %w", errors.Join(errs...))
	}
	return nil
}

// unsetBackendsOf resolves the configuration of rs before the converters run (which take the
// unset backends out) and lists its unset backends that a pipeline names.
func unsetBackendsOf(rs confmap.ResolverSettings) []unsetBackend {
	rs.ConverterFactories = nil
	conf, err := ResolveConfig(rs)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(unsetBackends(conf.ToStringMap()), func(u unsetBackend) bool { return len(u.pipelines) == 0 })
}

// WithUnsetBackendNotes makes `vigil validate`, when the configuration is valid, also say which
// backends are left out because their endpoint is empty, and what to set.
func WithUnsetBackendNotes(root *cobra.Command, set otelcol.CollectorSettings, uris func() []string) {
	for _, c := range root.Commands() {
		if c.Name() != "validate" || c.RunE == nil {
			continue
		}
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, cmdArgs []string) error {
			if err := run(cmd, cmdArgs); err != nil {
				return err
			}
			rs := set.ConfigProviderSettings.ResolverSettings
			if u := uris(); len(u) > 0 {
				rs.URIs = u
			}
			for _, u := range unsetBackendsOf(rs) {
				fmt.Fprintf(cmd.OutOrStdout(), "not configured: %s\n", u.note())
			}
			return nil
		}
	}
}
