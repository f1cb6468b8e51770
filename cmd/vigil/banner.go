package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
)

// configURIs returns the values of every --config flag in args, in order.
func configURIs(args []string) []string {
	var uris []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				uris = append(uris, args[i+1])
				i++
			}
		case strings.HasPrefix(a, "--config="):
			uris = append(uris, strings.TrimPrefix(a, "--config="))
		case strings.HasPrefix(a, "-config="):
			uris = append(uris, strings.TrimPrefix(a, "-config="))
		}
	}
	return uris
}

// printBanner prints one short block saying what listens where and where data goes. It resolves
// the configuration the same way the collector will; if that fails it prints nothing, and the
// collector reports the error itself.
func printBanner(w io.Writer, set otelcol.CollectorSettings, uris []string) {
	rs := set.ConfigProviderSettings.ResolverSettings
	if len(uris) > 0 {
		rs.URIs = uris
	}
	resolver, err := confmap.NewResolver(rs)
	if err != nil {
		return
	}
	conf, err := resolver.Resolve(context.Background())
	_ = resolver.Shutdown(context.Background())
	if err != nil {
		return
	}
	rows := listeners(conf.ToStringMap())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "vigil %s — config %s\n", version, strings.Join(rs.URIs, ", "))
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	fmt.Fprintf(tw, "  data directory\t%s\n", os.Getenv(dataDirEnv))
	fmt.Fprintf(tw, "  stop\tCtrl-C or SIGTERM (flushes what it holds)\n")
	_ = tw.Flush()
}

// listeners finds the network endpoints in a resolved collector configuration.
func listeners(m map[string]any) [][2]string {
	var rows [][2]string
	for _, kind := range []string{"receivers", "extensions"} {
		comps, _ := m[kind].(map[string]any)
		names := make([]string, 0, len(comps))
		for name := range comps {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			cfg, _ := comps[name].(map[string]any)
			if ep, ok := cfg["endpoint"].(string); ok && ep != "" {
				rows = append(rows, [2]string{kind[:len(kind)-1] + " " + name, ep + scheme(cfg)})
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
