package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand(args)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

// roleEnv is the environment the agent config needs (as the DaemonSet sets it).
func roleEnv(t *testing.T) {
	t.Helper()
	t.Setenv("VIGIL_CLUSTER_NAME", "test-cluster")
	t.Setenv("K8S_NODE_NAME", "node-1")
	t.Setenv("VIGIL_DATA_DIR", t.TempDir())
}

// TestShippedAgentConfigsValidate: vigil-agent validates the shipped agent config unchanged, from
// the file and embedded, alone and with the overlays the chart and the docs add.
func TestShippedAgentConfigsValidate(t *testing.T) {
	deploy := filepath.Join("..", "..", "deploy")
	for _, args := range [][]string{
		{"--config", filepath.Join(deploy, "config", "agent.yaml")},
		{"--config", "embedded:agent.yaml"},
		{}, // the default: embedded:agent.yaml
		{"--config", "embedded:agent.yaml", "--config", "embedded:agent-pod-metadata.yaml"},
		{"--config", filepath.Join(deploy, "config", "agent.yaml"), "--config", filepath.Join(deploy, "examples", "fluentforward-in.yaml")},
		{"--config", "embedded:agent.yaml", "--data-dir", t.TempDir()}, // as the chart runs it
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			roleEnv(t)
			out, err := execute(t, append([]string{"validate"}, args...)...)
			require.NoError(t, err, out)
		})
	}
}

// TestOtherRolesAreNotBuiltIn: a gateway config names components the agent binary does not
// have, and validate says which.
func TestOtherRolesAreNotBuiltIn(t *testing.T) {
	roleEnv(t)
	out, err := execute(t, "validate", "--config", "embedded:gateway.yaml")
	require.Error(t, err, out)
	require.Regexp(t, regexp.MustCompile(`unknown type: "(clusterauth|httpapi|evidence|alert|archive|opensearch|lokipush|promrw|clusteridentity)"`), err.Error())
}

func TestVersionAndComponents(t *testing.T) {
	out, err := execute(t, "version")
	require.NoError(t, err)
	require.Equal(t, "vigil-agent "+version+"\n", out)

	out, err = execute(t, "components")
	require.NoError(t, err, out)
	for _, want := range []string{"otlprelay", "containerlogs", "k8saudit", "walstorage", "k8senrich"} {
		require.Contains(t, out, want)
	}
	for _, notHere := range []string{"name: alert\n", "name: archive\n", "name: prometheus\n", "name: lokipush\n"} {
		require.NotContains(t, out, notHere)
	}
}

// TestNoHeavyDependencies: the agent binary links none of what only other roles need — the
// alert core (Prometheus' promql, rules, service discovery), Loki, the archive's object stores
// and the cloud SDKs behind them. Each costs every node memory (package data and init).
func TestNoHeavyDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if testutil.InCI() {
			t.Fatal("go not in PATH")
		}
		t.Skip("go not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	heavy := regexp.MustCompile(`prometheus/prometheus/(promql|rules|discovery)|grafana/loki|thanos-io/objstore|aws-sdk|azure-sdk-for-go|cloud\.google\.com/go/storage|vigil/(exporters/(alert|archive|opensearch|lokipush|promrw)exporter|storage/archive)`)
	var found []string
	for _, pkg := range strings.Fields(string(out)) {
		if heavy.MatchString(pkg) {
			found = append(found, pkg)
		}
	}
	require.Empty(t, found, "cmd/vigil-agent imports packages of other roles")
}

// TestGCPercent: the agent collects at 50% heap growth unless GOGC says otherwise.
func TestGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	t.Setenv("GOGC", "")
	require.NoError(t, os.Unsetenv("GOGC"))
	require.Equal(t, defaultGCPercent, setGCPercent())
	require.Equal(t, defaultGCPercent, debug.SetGCPercent(100))

	t.Setenv("GOGC", "100") // as the runtime read it at start (debug.SetGCPercent stands in)
	require.Equal(t, 100, setGCPercent(), "GOGC in the environment wins")
	require.Equal(t, 100, debug.SetGCPercent(100))
}
