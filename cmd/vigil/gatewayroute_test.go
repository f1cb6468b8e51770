package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestAgentMovesToTheSurvivingGateway: an agent (deploy/config/agent.yaml) forwards to two real
// gateways (forward::endpoints) while clients send to it. Its data goes to one gateway; that one
// is SIGKILLed mid-stream; the agent's durable queue goes on draining to the other gateway, and
// once the killed gateway restarts on its volume its own durable queue drains too: every record
// the agent acknowledged reaches the sink behind the gateways.
func TestAgentMovesToTheSurvivingGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil processes; skipped with -short")
	}
	ca := testutil.NewCA(t)
	sink, sinkAddr := startLogSink(t)
	type gw struct {
		addr, dir, health string
		port              int
		proc              *gatewayProc
	}
	gws := make([]*gw, 2)
	for i := range gws {
		g := &gw{addr: testutil.FreeAddr(t), dir: t.TempDir(), health: testutil.FreeAddr(t), port: testutil.FreePort(t)}
		g.proc = startGatewayOn(t, ca, g.addr, sinkAddr, g.dir, g.health, g.port)
		gws[i] = g
	}
	spec := newAgentSpec(t, "agent", "cluster-a", ca.Issue(t, "vigil-agent.cluster-a"), ca.CertFile, gws[0].addr) // the core exporters (container logs, audit files)
	spec.extraConfig = filepath.Join(t.TempDir(), "gateways.yaml")
	require.NoError(t, os.WriteFile(spec.extraConfig, fmt.Appendf(nil, `
receivers:
  otlprelay:
    forward:
      endpoint: ""
      endpoints: [%q, %q]
`, gws[0].addr, gws[1].addr), 0o600))
	spec.start(t)

	accepted := func(g *gw) float64 {
		n, _ := testutil.ScrapeSum(g.proc.metricsURL, "otelcol_receiver_accepted_log_records_total", `receiver="otlp"`)
		return n
	}
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg    sync.WaitGroup
		acked = acks{next: make(chan struct{})}
		sent  [2]int
	)
	defer func() { stop(); wg.Wait() }()
	url := "http://" + spec.otlpHTTP + "/v1/logs"
	for c := range sent {
		wg.Go(func() { sent[c] = sendUntilStopped(ctx, t, url, c, &acked) })
	}

	// The agent's data meets on one gateway: its owner.
	var owner, survivor *gw
	testutil.Eventually(t, 20*time.Second, func() error {
		a, b := accepted(gws[0]), accepted(gws[1])
		switch {
		case a > 0 && b > 0:
			return fmt.Errorf("both gateways got the agent's data: %.0f and %.0f records", a, b)
		case a > 200:
			owner, survivor = gws[0], gws[1]
		case b > 200:
			owner, survivor = gws[1], gws[0]
		default:
			return fmt.Errorf("%.0f and %.0f records so far", a, b)
		}
		return nil
	})
	require.Zero(t, accepted(survivor), "all of an agent's data goes to one gateway")

	require.NoError(t, owner.proc.proc.Cmd.Process.Kill()) // SIGKILL, mid-stream
	killed := time.Now()
	_, _ = owner.proc.proc.Stop(5 * time.Second)
	testutil.Eventually(t, 30*time.Second, func() error {
		if accepted(survivor) == 0 {
			return fmt.Errorf("the survivor got nothing yet")
		}
		return nil
	})
	takeover := time.Since(killed)
	last := acked.n.Load()
	testutil.Eventually(t, 20*time.Second, func() error { // the agent keeps acknowledging
		if acked.n.Load() < last+20 {
			return fmt.Errorf("%d requests acknowledged since the takeover", acked.n.Load()-last)
		}
		return nil
	})
	stop()
	wg.Wait()
	require.False(t, t.Failed(), "a client failed")

	// What the killed gateway acknowledged is on its volume: it drains once it is back.
	owner.proc = startGatewayOn(t, ca, owner.addr, sinkAddr, owner.dir, owner.health, owner.port)
	requests := sent[0] + sent[1]
	testutil.Eventually(t, 60*time.Second, func() error {
		missing, first := 0, ""
		for c, n := range sent {
			for r := range n {
				for i := range crashRecords {
					if body := crashBody(c, r, i); sink.deliveries(body) == 0 {
						if missing++; first == "" {
							first = body
						}
					}
				}
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged records not delivered, %q among them", missing, requests*crashRecords, first)
		}
		return nil
	})
	t.Logf("%d requests (%d records) acknowledged, all delivered; the surviving gateway took the first records %s after the SIGKILL",
		requests, requests*crashRecords, takeover.Round(10*time.Millisecond))
}
