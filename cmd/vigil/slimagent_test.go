package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestSlimAgentRunsTheShippedConfig: vigil-agent (the agent alone) runs deploy/config/agent.yaml
// unchanged beside a vigil gateway: OTLP logs pushed to its relay and a container's CRI log
// lines under the node's pod log directory reach the gateway with the agent's cluster and node.
func TestSlimAgentRunsTheShippedConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a vigil gateway and a vigil-agent; skipped with -short")
	}
	ca := testutil.NewCA(t)
	cert := ca.Issue(t, "vigil-agent.cluster-a")
	sink, sinkAddr := startLogSink(t)
	gw := startGateway(t, ca, testutil.FreeAddr(t), sinkAddr)
	spec := newAgentSpec(t, "slim-agent", "cluster-a", cert, ca.CertFile, gw.grpcAddr)
	spec.bin = testutil.AgentBinary(t)
	agent := spec.start(t)
	require.Contains(t, agent.Output(), "vigil-agent ", "the banner names the binary")

	dir := filepath.Join(spec.podLogs, "shop_web-1_0d1c4f3e-1111-4000-8000-000000000001", "app")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var cri strings.Builder
	for i := range 10 {
		fmt.Fprintf(&cri, "%s stdout F slim-container %d\n", time.Now().UTC().Format(time.RFC3339Nano), i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0.log"), []byte(cri.String()), 0o644))
	sendSDKLogs(t, spec.otlpHTTP, 10, "slim-otlp")

	testutil.Eventually(t, 30*time.Second, func() error {
		for i := range 10 {
			for _, body := range []string{fmt.Sprintf("slim-otlp %d", i), fmt.Sprintf("slim-container %d", i)} {
				got, ok := sink.get(body)
				if !ok {
					return fmt.Errorf("%q not delivered yet", body)
				}
				if got != "cluster-a/node-of-slim-agent" {
					return fmt.Errorf("%q arrived as %s, want cluster-a/node-of-slim-agent", body, got)
				}
			}
		}
		return nil
	})
	require.NotContains(t, agent.Output(), "panic")
}
