package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnsetTraceBackendIsLeftOutAndExplained: the gateway and all-in-one configs validate without
// a trace backend, and `vigil validate` and the banner say what to set; once VIGIL_TRACES_ENDPOINT
// is set, the exporter is in the traces pipeline and nothing is reported.
func TestUnsetTraceBackendIsLeftOutAndExplained(t *testing.T) {
	require.NoError(t, useComponentStatusForHealth())
	for _, name := range []string{"gateway.yaml", "allinone.yaml"} {
		t.Run(name, func(t *testing.T) {
			roleEnv(t)
			t.Setenv("VIGIL_TRACES_ENDPOINT", "")
			out, err := execute(t, "validate", "--config", "embedded:"+name)
			require.NoError(t, err, out)
			require.Equal(t, 1, strings.Count(out, "not configured: "), out)
			require.Contains(t, out, "traces: exporters::otlp_grpc/traces::endpoint is empty, so otlp_grpc/traces is left out of the pipeline; set VIGIL_TRACES_ENDPOINT to a trace backend's OTLP/gRPC host:port")

			var banner bytes.Buffer
			printBanner(&banner, collectorSettings(), []string{"embedded:" + name})
			require.Regexp(t, `traces not sent to a backend +set VIGIL_TRACES_ENDPOINT\n`, banner.String())

			t.Setenv("VIGIL_TRACES_ENDPOINT", "127.0.0.1:4317")
			out, err = execute(t, "validate", "--config", "embedded:"+name)
			require.NoError(t, err, out)
			require.NotContains(t, out, "not configured")
			banner.Reset()
			printBanner(&banner, collectorSettings(), []string{"embedded:" + name})
			require.NotEmpty(t, banner.String())
			require.NotContains(t, banner.String(), "not sent to a backend")

			// The exporter is in the traces pipeline as resolved (the converters ran).
			set := collectorSettings()
			rs := set.ConfigProviderSettings.ResolverSettings
			rs.URIs = []string{"embedded:" + name}
			conf, err := resolveConfig(rs)
			require.NoError(t, err)
			require.Contains(t, list(conf.Get("service::pipelines::traces::exporters")), "otlp_grpc/traces")
			require.Equal(t, "127.0.0.1:4317", conf.Get("exporters::otlp_grpc/traces::endpoint"))
			require.Equal(t, "walstorage", conf.Get("exporters::otlp_grpc/traces::sending_queue::storage"))
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
			conf, err := resolveConfig(rs)
			require.NoError(t, err)
			require.Equal(t, tt.want, list(conf.Get("service::pipelines::traces::exporters")))
			if !strings.Contains(strings.Join(tt.want, " "), "otlp_grpc/traces") {
				require.Nil(t, conf.Get("exporters::otlp_grpc/traces"), "the unset backend is taken out of the configuration")
			}
		})
	}
}
