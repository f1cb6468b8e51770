package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/collectorcli"
)

// TestUnsetBackendsAreLeftOutAndExplained: the gateway and all-in-one configs validate without
// any optional backend, and `vigil validate` and the banner say what to set for each; once a
// backend's variable is set, its exporter is in its pipeline, on the durable queue, and nothing
// is reported for it.
func TestUnsetBackendsAreLeftOutAndExplained(t *testing.T) {
	require.NoError(t, collectorcli.UseComponentStatusForHealth())
	backends := []struct{ id, env, value, pipeline, note string }{
		{"otlp_grpc/traces", "VIGIL_TRACES_ENDPOINT", "127.0.0.1:4317", "traces",
			"traces: exporters::otlp_grpc/traces::endpoint is empty, so otlp_grpc/traces is left out of the pipeline; set VIGIL_TRACES_ENDPOINT to a trace backend's OTLP/gRPC host:port"},
		{"lokipush", "VIGIL_LOKI_URL", "http://127.0.0.1:3100", "logs",
			"logs: exporters::lokipush::endpoint is empty, so lokipush is left out of the pipeline; set VIGIL_LOKI_URL to Loki's base URL"},
		{"promrw", "VIGIL_PROMRW_URL", "http://127.0.0.1:9090/api/v1/write", "metrics",
			"metrics, metrics/spans: exporters::promrw::endpoint is empty, so promrw is left out of the pipeline; set VIGIL_PROMRW_URL to a Prometheus remote-write URL"},
	}
	require.Len(t, collectorcli.OptionalBackends(), len(backends), "every optional backend is tested here")
	for _, name := range []string{"gateway.yaml", "allinone.yaml"} {
		t.Run(name, func(t *testing.T) {
			roleEnv(t)
			for _, b := range backends {
				t.Setenv(b.env, "")
			}
			out, err := execute(t, "validate", "--config", "embedded:"+name)
			require.NoError(t, err, out)
			require.Equal(t, len(backends), strings.Count(out, "not configured: "), out)
			var banner bytes.Buffer
			collectorcli.PrintBanner(&banner, collectorSettings(), []string{"embedded:" + name})
			for _, b := range backends {
				require.Contains(t, out, b.note)
				require.Regexp(t, `backends not set +.*`+b.env+` \(`+b.pipeline+`\)`, banner.String())
			}

			for n, b := range backends {
				t.Setenv(b.env, b.value)
				out, err = execute(t, "validate", "--config", "embedded:"+name)
				require.NoError(t, err, out)
				require.Equal(t, len(backends)-n-1, strings.Count(out, "not configured: "), out)
				require.NotContains(t, out, b.env)

				// The exporter is in its pipeline as resolved (the converters ran), on walstorage.
				set := collectorSettings()
				rs := set.ConfigProviderSettings.ResolverSettings
				rs.URIs = []string{"embedded:" + name}
				conf, err := collectorcli.ResolveConfig(rs)
				require.NoError(t, err)
				require.Contains(t, list(conf.Get("service::pipelines::"+b.pipeline+"::exporters")), b.id)
				require.Equal(t, b.value, conf.Get("exporters::"+b.id+"::endpoint"))
				require.Equal(t, "walstorage", conf.Get("exporters::"+b.id+"::sending_queue::storage"))
			}
			banner.Reset()
			collectorcli.PrintBanner(&banner, collectorSettings(), []string{"embedded:" + name})
			require.NotEmpty(t, banner.String())
			require.NotContains(t, banner.String(), "backends not set")
		})
	}
}

func TestUnsetBackendsConverter(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // each once in the error; none: valid
		want    []string // exporters of the traces pipeline after conversion
	}{
		{
			name: "empty endpoint left out, the rest kept",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"exporters:\n  debug: {}\n  otlp_grpc/traces: {endpoint: \"\"}\n" +
				"service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug, otlp_grpc/traces]}\n",
			want: []string{"debug"},
		},
		{
			name: "a set endpoint stays",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"exporters:\n  debug: {}\n  otlp_grpc/traces: {endpoint: \"127.0.0.1:1\", tls: {insecure: true}}\n" +
				"service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug, otlp_grpc/traces]}\n",
			want: []string{"debug", "otlp_grpc/traces"},
		},
		{
			name: "a pipeline left without exporters says what to set",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"exporters:\n  otlp_grpc/traces: {endpoint: \"\"}\n" +
				"service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [otlp_grpc/traces]}\n",
			wantErr: []string{"service::pipelines::traces: no exporter left", "set VIGIL_TRACES_ENDPOINT to"},
		},
		{
			name: "another exporter with an empty endpoint is an error, not left out",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"exporters:\n  debug: {}\n  otlp_grpc/other: {endpoint: \"\"}\n" +
				"service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug, otlp_grpc/other]}\n",
			wantErr: []string{"exporters::otlp_grpc/other: requires a non-empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vigil.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o600))
			out, err := execute(t, "validate", "--config", path)
			if len(tt.wantErr) > 0 {
				require.Error(t, err, out)
				for _, w := range tt.wantErr {
					require.Equal(t, 1, strings.Count(err.Error(), w), "%q once in %s", w, err.Error())
				}
				return
			}
			require.NoError(t, err, out)
			rs := collectorSettings().ConfigProviderSettings.ResolverSettings
			rs.URIs = []string{path}
			conf, err := collectorcli.ResolveConfig(rs)
			require.NoError(t, err)
			require.Equal(t, tt.want, list(conf.Get("service::pipelines::traces::exporters")))
			if !strings.Contains(strings.Join(tt.want, " "), "otlp_grpc/traces") {
				require.Nil(t, conf.Get("exporters::otlp_grpc/traces"), "the unset backend is taken out of the configuration")
			}
		})
	}
}

// list returns a YAML list of names.
func list(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}
