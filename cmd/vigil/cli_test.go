package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/collectorcli"

	deployconfig "github.com/vigil-obs/vigil/deploy/config"
)

// roleEnv is the environment the role configs need to validate (as a DaemonSet would set it).
func roleEnv(t *testing.T) {
	t.Helper()
	t.Setenv("VIGIL_CLUSTER_NAME", "test-cluster")
	t.Setenv("K8S_NODE_NAME", "node-1")
	t.Setenv("VIGIL_DATA_DIR", t.TempDir())
}

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand(args)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

func TestRoleConfigsValidate(t *testing.T) {
	for _, name := range []string{"agent.yaml", "gateway.yaml", "allinone.yaml"} {
		for _, uri := range []string{filepath.Join("..", "..", "deploy", "config", name), "embedded:" + name} {
			t.Run(uri, func(t *testing.T) {
				roleEnv(t)
				out, err := execute(t, "validate", "--config", uri)
				require.NoError(t, err, out)
			})
		}
	}
	// The agent with the pod metadata overlay, as deploy/kubernetes/agent.yaml runs it.
	roleEnv(t)
	out, err := execute(t, "validate", "--config", "embedded:agent.yaml", "--config", "embedded:agent-pod-metadata.yaml")
	require.NoError(t, err, out)
	// Without the node (the DaemonSet's downward API) the pod lookup cannot work: said at once.
	t.Setenv("K8S_NODE_NAME", "")
	out, err = execute(t, "validate", "--config", "embedded:agent.yaml", "--config", "embedded:agent-pod-metadata.yaml")
	require.Error(t, err)
	require.Contains(t, out+err.Error(), "pod_metadata.node_name: must be set when pod_metadata.enabled is true")
}

func TestEmbeddedConfigsAreTheDeployFiles(t *testing.T) {
	require.Equal(t, []string{"agent-pod-metadata.yaml", "agent.yaml", "allinone.yaml", "gateway.yaml"}, deployconfig.Names())
	for _, name := range deployconfig.Names() {
		embedded, err := deployconfig.Read(name)
		require.NoError(t, err)
		onDisk, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config", name))
		require.NoError(t, err)
		require.Equal(t, string(onDisk), string(embedded), name)
	}
	require.Equal(t, []string{deployconfig.AllInOne}, collectorSettings().ConfigProviderSettings.ResolverSettings.URIs,
		"vigil without --config must run the all-in-one file")
}

func TestValidateNamesProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown key",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpointt: 127.0.0.1:0\n" +
				"exporters:\n  debug: {}\nservice:\n  pipelines:\n    logs: {receivers: [otlp], exporters: [debug]}\n",
			want: []string{"otlp", "endpointt"},
		},
		{
			name: "bad value in a vigil component",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"processors:\n  clusteridentity: {on_mismatch: drop}\n  k8senrich: {cluster_name: \"\"}\n" +
				"exporters:\n  debug: {}\nservice:\n  pipelines:\n    logs: {receivers: [otlp], processors: [clusteridentity, k8senrich], exporters: [debug]}\n",
			want: []string{`on_mismatch: "drop" is not allowed`, "cluster_name"},
		},
		{
			name: "undefined component",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"exporters:\n  debug: {}\nservice:\n  pipelines:\n    logs: {receivers: [otlp], exporters: [opensearch]}\n",
			want: []string{"opensearch"},
		},
		{
			name: "misspelled key beside an undefined component",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpointt: 127.0.0.1:0\n" +
				"exporters:\n  debug: {}\nservice:\n  extensions: [health_chek]\n  pipelines:\n" +
				"    logs: {receivers: [otlp], exporters: [opensearch]}\n    traces: {receivers: [otlp], processors: [batchh], exporters: [debug]}\n",
			want: []string{"endpointt", `references exporter "opensearch"`, `references processor "batchh"`,
				`references extension "health_chek"`},
		},
		{
			name: "archive bucket",
			yaml: "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 127.0.0.1:0}\n" +
				"extensions:\n  walstorage: {directory: d}\n" +
				"exporters:\n  archive:\n    storage: walstorage\n    s3: {bucket: b, endpoint: e, object_lock: {mode: compliance, retention_days: 1}}\n" +
				"service:\n  extensions: [walstorage]\n  pipelines:\n    logs: {receivers: [otlp], exporters: [archive]}\n",
			want: []string{`s3.object_lock.mode: "compliance" is not GOVERNANCE or COMPLIANCE`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vigil.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o600))
			out, err := execute(t, "validate", "--config", path)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Equal(t, 1, strings.Count(err.Error(), w), "%q once in %s", w, err.Error()+out)
			}
		})
	}
}

func TestVersionAndComponents(t *testing.T) {
	out, err := execute(t, "version")
	require.NoError(t, err)
	require.Equal(t, "vigil "+version+"\n", out)

	out, err = execute(t, "components")
	require.NoError(t, err)
	for _, c := range []string{"otlp", "otlp_grpc", "debug", "memory_limiter", "health_check", "file_storage",
		"clusterauth", "clusteridentity", "k8senrich", "k8saudit", "otlprelay", "bodylimit", "walstorage", "prometheus", "pprof", "httpapi"} {
		require.Contains(t, out, "name: "+c+"\n", "component %s must be built in", c)
	}
}

func TestConfigURIs(t *testing.T) {
	uris, err := parseRunFlags(t, "--config", "a.yaml", "--set", "receivers.otlp.protocols={}",
		"--config=b.yaml", "--config=embedded:agent.yaml")
	require.NoError(t, err)
	require.Equal(t, []string{"a.yaml", "b.yaml", "embedded:agent.yaml", "yaml:receivers::otlp::protocols: {}"}, uris)
	uris, err = parseRunFlags(t)
	require.NoError(t, err)
	require.Empty(t, uris)
	// --set without --config amends the all-in-one defaults instead of replacing them.
	uris, err = parseRunFlags(t, "--set=a=1")
	require.NoError(t, err)
	require.Equal(t, []string{"embedded:allinone.yaml", "yaml:a: 1"}, uris)
}

func TestBanner(t *testing.T) {
	require.NoError(t, collectorcli.UseComponentStatusForHealth()) // as newRootCommand does: the role configs need it
	t.Setenv("VIGIL_DATA_DIR", "/var/lib/vigil-test")
	var out bytes.Buffer
	collectorcli.PrintBanner(&out, collectorSettings(), nil)
	s := out.String()
	for _, want := range []string{
		"config embedded:allinone.yaml",
		"receiver otlp grpc", "127.0.0.1:4317",
		"receiver otlp http", "127.0.0.1:4318",
		"extension health_check", "127.0.0.1:13133",
		"own metrics", "http://127.0.0.1:8888/metrics",
		"data directory", "/var/lib/vigil-test",
	} {
		require.Contains(t, s, want)
	}
	require.LessOrEqual(t, strings.Count(s, "\n"), 10, "the banner is one short block:\n%s", s)

	// The agent configures an otlp receiver that no pipeline uses, on otlprelay's ports: the
	// banner lists only what runs.
	out.Reset()
	roleEnv(t)
	collectorcli.PrintBanner(&out, collectorSettings(), []string{"embedded:agent.yaml"})
	require.Contains(t, out.String(), "receiver otlprelay grpc")
	require.NotContains(t, out.String(), "receiver otlp ", "a receiver no pipeline uses does not listen:\n%s", out.String())

	// A configuration that the collector then refuses prints no banner.
	out.Reset()
	collectorcli.PrintBanner(&out, collectorSettings(), []string{"embedded:allinone.yaml", "yaml:exporters::archive::max_object_age: 1ms"})
	require.Empty(t, out.String(), "no banner before a refused configuration")
	out.Reset()
	collectorcli.PrintBanner(&out, collectorSettings(), []string{"embedded:allinone.yaml", "yaml:receivers::k8saudit::no_such_key: 1"})
	require.Empty(t, out.String(), "no banner before a refused configuration")
}

func TestDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	t.Setenv(collectorcli.DataDirEnv, "")
	got, err := collectorcli.PrepareDataDir(dir)
	require.NoError(t, err)
	require.Equal(t, dir, got)
	require.Equal(t, dir, os.Getenv(collectorcli.DataDirEnv))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, st.IsDir())

	t.Setenv(collectorcli.DataDirEnv, filepath.Join(t.TempDir(), "from-env"))
	got, err = collectorcli.PrepareDataDir("")
	require.NoError(t, err)
	require.Equal(t, os.Getenv(collectorcli.DataDirEnv), got)
}

func TestUnknownSubcommandsFail(t *testing.T) {
	for _, args := range [][]string{{"rules", "tset"}, {"archive", "qurey", "{a=\"b\"}"}, {"valdate"}} {
		_, err := execute(t, args...)
		require.Error(t, err, "vigil %v must exit non-zero", args)
		require.Contains(t, err.Error(), "unknown command")
	}
	out, err := execute(t, "rules")
	require.NoError(t, err, "vigil rules alone prints its help")
	require.Contains(t, out, "check")
}

func TestArchiveHelpListsOnlyItsFlags(t *testing.T) {
	out, err := execute(t, "archive", "query", "--help")
	require.NoError(t, err)
	for _, daemon := range []string{"--rules", "--alertmanager", "--scrape", "--scrape-config", "--scrape-interval"} {
		require.NotContains(t, out, daemon+" ", "the running vigil's flags are not the archive's")
	}
	require.Contains(t, out, "--from")
	out, err = execute(t, "validate", "--help")
	require.NoError(t, err)
	require.Contains(t, out, "--scrape ", "validate checks the run flags too")
}
