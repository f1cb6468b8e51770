package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestAgentQueueSurvivesSIGKILL: with the gateway down, the agent acknowledges logs only once
// they are in its durable queue; it is killed with SIGKILL, restarted, and when the gateway comes
// up every acknowledged record is delivered.
func TestAgentQueueSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil processes; skipped with -short")
	}
	ca := testutil.NewCA(t)
	cert := ca.Issue(t, "vigil-agent.cluster-a")
	sink, sinkAddr := startLogSink(t)
	gwAddr := testutil.FreeAddr(t) // nothing listens there yet

	spec := newAgentSpec(t, "agent", "cluster-a", cert, ca.CertFile, gwAddr)
	agent := spec.start(t)
	const batches, per = 5, 40
	for b := range batches {
		sendSDKLogs(t, spec.otlpHTTP, per, fmt.Sprintf("queued-%d", b))
	}
	if err := agent.Cmd.Process.Kill(); err != nil { // SIGKILL: no flush, no shutdown
		t.Fatal(err)
	}
	_, _ = agent.Stop(5 * time.Second)

	spec.start(t) // same data directory
	startGateway(t, ca, gwAddr, sinkAddr)

	testutil.Eventually(t, 60*time.Second, func() error {
		for b := range batches {
			for i := range per {
				body := fmt.Sprintf("queued-%d %d", b, i)
				got, ok := sink.get(body)
				if !ok {
					return fmt.Errorf("%q not delivered", body)
				}
				if got != "cluster-a/node-of-agent" {
					return fmt.Errorf("%q arrived as %s", body, got)
				}
			}
		}
		return nil
	})
}
