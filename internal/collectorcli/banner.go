package collectorcli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
)

// ResolveConfig resolves the configuration of rs as the collector does (providers, converters),
// without decoding any component.
func ResolveConfig(rs confmap.ResolverSettings) (*confmap.Conf, error) {
	resolver, err := confmap.NewResolver(rs)
	if err != nil {
		return nil, err
	}
	conf, err := resolver.Resolve(context.Background())
	_ = resolver.Shutdown(context.Background())
	return conf, err
}

// PrintBanner prints one short block saying what listens where and where data goes. It resolves
// and validates the configuration the same way the collector will (the collector's dry run); if
// that fails it prints nothing, and the collector reports the error itself.
func PrintBanner(w io.Writer, set otelcol.CollectorSettings, uris []string) {
	rs := set.ConfigProviderSettings.ResolverSettings
	if len(uris) > 0 {
		rs.URIs = uris
	}
	set.ConfigProviderSettings.ResolverSettings = rs
	if col, err := otelcol.NewCollector(set); err != nil || col.DryRun(context.Background()) != nil {
		return
	}
	conf, err := ResolveConfig(rs)
	if err != nil {
		return
	}
	rows := listeners(conf.ToStringMap())
	rows = append(rows, scrapes(conf.ToStringMap())...)
	// One row for the optional backends left unset: what to set, and for which signals.
	var unset []string
	for _, u := range unsetBackendsOf(rs) {
		var signals []string
		for _, p := range u.pipelines {
			if s, _, _ := strings.Cut(p, "/"); !slices.Contains(signals, s) {
				signals = append(signals, s)
			}
		}
		unset = append(unset, optionalBackends[u.id].env+" ("+strings.Join(signals, ", ")+")")
	}
	if len(unset) > 0 {
		rows = append(rows, [2]string{"backends not set", strings.Join(unset, ", ")})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var shown []string
	for _, u := range rs.URIs {
		if !strings.HasPrefix(u, "yaml:") {
			shown = append(shown, u)
		}
	}
	fmt.Fprintf(tw, "%s %s — config %s\n", set.BuildInfo.Command, set.BuildInfo.Version, strings.Join(shown, ", "))
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	fmt.Fprintf(tw, "  data directory\t%s\n", os.Getenv(DataDirEnv))
	fmt.Fprintf(tw, "  stop\tCtrl-C or SIGTERM (flushes what it holds)\n")
	_ = tw.Flush()
}

// listeners finds the network endpoints in a resolved collector configuration, of the receivers
// that a pipeline uses and the extensions that the service enables (the others do not run).
func listeners(m map[string]any) [][2]string {
	var rows [][2]string
	used := inService(m)
	for _, kind := range []string{"receivers", "extensions"} {
		comps, _ := m[kind].(map[string]any)
		names := make([]string, 0, len(comps))
		for name := range comps {
			if used[kind+"/"+name] {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			cfg, _ := comps[name].(map[string]any)
			if ep, ok := cfg["endpoint"].(string); ok && ep != "" {
				rows = append(rows, [2]string{kind[:len(kind)-1] + " " + name, ep + scheme(cfg)})
			}
			if h, ok := cfg["http"].(map[string]any); ok { // health_check's v2 http server
				if ep, ok := h["endpoint"].(string); ok && ep != "" {
					rows = append(rows, [2]string{kind[:len(kind)-1] + " " + name, ep + scheme(h)})
				}
			}
			if server, ok := cfg["server"].(map[string]any); ok {
				if ep, ok := server["endpoint"].(string); ok && ep != "" {
					rows = append(rows, [2]string{kind[:len(kind)-1] + " " + name, ep + scheme(server)})
				}
			}
			protocols, _ := cfg["protocols"].(map[string]any)
			for _, proto := range []string{"grpc", "http"} {
				p, _ := protocols[proto].(map[string]any)
				if ep, ok := p["endpoint"].(string); ok && ep != "" {
					rows = append(rows, [2]string{kind[:len(kind)-1] + " " + name + " " + proto, ep + scheme(p)})
				}
			}
		}
	}
	if ep := metricsEndpoint(m); ep != "" {
		rows = append(rows, [2]string{"own metrics", ep})
	}
	return rows
}

// inService returns the set of "receivers/NAME" used by a pipeline and "extensions/NAME" listed in
// service.extensions.
func inService(m map[string]any) map[string]bool {
	used := map[string]bool{}
	service, _ := m["service"].(map[string]any)
	exts, _ := service["extensions"].([]any)
	for _, e := range exts {
		used[fmt.Sprintf("extensions/%v", e)] = true
	}
	pipelines, _ := service["pipelines"].(map[string]any)
	for _, p := range pipelines {
		pipeline, _ := p.(map[string]any)
		recvs, _ := pipeline["receivers"].([]any)
		for _, r := range recvs {
			used[fmt.Sprintf("receivers/%v", r)] = true
		}
	}
	return used
}

func scheme(cfg map[string]any) string {
	if _, ok := cfg["tls"]; ok {
		return " (TLS)"
	}
	return ""
}

// metricsEndpoint returns the URL of the first Prometheus pull reader of the service's own telemetry.
func metricsEndpoint(m map[string]any) string {
	service, _ := m["service"].(map[string]any)
	telemetry, _ := service["telemetry"].(map[string]any)
	metrics, _ := telemetry["metrics"].(map[string]any)
	readers, _ := metrics["readers"].([]any)
	for _, r := range readers {
		reader, _ := r.(map[string]any)
		pull, _ := reader["pull"].(map[string]any)
		exp, _ := pull["exporter"].(map[string]any)
		prom, _ := exp["prometheus"].(map[string]any)
		if prom == nil {
			continue
		}
		return fmt.Sprintf("http://%v:%v/metrics", prom["host"], prom["port"])
	}
	return ""
}

// scrapes lists for the banner what the prometheus receiver scrapes: each static target as a URL
// under its job, and each scrape config file.
func scrapes(m map[string]any) [][2]string {
	receivers, _ := m["receivers"].(map[string]any)
	prom, _ := receivers["prometheus"].(map[string]any)
	cfg, _ := prom["config"].(map[string]any)
	var rows [][2]string
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		scheme, path := "http", "/metrics"
		if s, ok := job["scheme"].(string); ok && s != "" {
			scheme = s
		}
		if p, ok := job["metrics_path"].(string); ok && p != "" {
			path = p
		}
		statics, _ := job["static_configs"].([]any)
		for _, st := range statics {
			group, _ := st.(map[string]any)
			groupScheme, groupPath := scheme, path
			if l, ok := group["labels"].(map[string]any); ok {
				if s, ok := l[model.SchemeLabel].(string); ok {
					groupScheme = s
				}
				if p, ok := l[model.MetricsPathLabel].(string); ok {
					groupPath = p
				}
			}
			targets, _ := group["targets"].([]any)
			for _, tg := range targets {
				rows = append(rows, [2]string{fmt.Sprintf("scrape %v", job["job_name"]), fmt.Sprintf("%s://%v%s", groupScheme, tg, groupPath)})
			}
		}
	}
	files, _ := cfg["scrape_config_files"].([]any)
	for _, f := range files {
		rows = append(rows, [2]string{"scrape config", fmt.Sprint(f)})
	}
	return rows
}
