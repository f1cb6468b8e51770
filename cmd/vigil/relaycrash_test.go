package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// Shape of the load of TestAgentRelaySIGKILLUnderLoad.
const (
	crashClients    = 4                     // concurrent OTLP/HTTP clients
	crashRecords    = 20                    // log records per request
	crashMaxPerCli  = 4000                  // requests a client sends at most (it stops when the kills are over)
	crashPause      = 20 * time.Millisecond // at most, between a client's requests
	crashKills      = 20                    // SIGKILLs of the agent
	crashMinBetween = 200 * time.Millisecond
	crashMaxBetween = 900 * time.Millisecond
)

// TestAgentRelaySIGKILLUnderLoad: clients send OTLP/HTTP log requests to the agent's relay while
// the agent is killed with SIGKILL at random moments and restarted on the same data directory,
// the gateway up all along. Every request the agent answered 200 must reach the gateway's sink,
// stamped with the agent's cluster and node; duplicates are allowed (at least once).
func TestAgentRelaySIGKILLUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil processes; skipped with -short")
	}
	start := time.Now()
	ca := testutil.NewCA(t)
	cert := ca.Issue(t, "vigil-agent.cluster-a")
	sink, sinkAddr := startLogSink(t)
	gwAddr := testutil.FreeAddr(t)
	startGateway(t, ca, gwAddr, sinkAddr)
	spec := newAgentSpec(t, "agent", "cluster-a", cert, ca.CertFile, gwAddr)
	agent := spec.start(t)

	// Each client sends its requests one after the other, each until it is acknowledged: its
	// acknowledged requests are its first sent[c].
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg    sync.WaitGroup
		acked = acks{next: make(chan struct{})}
		sent  [crashClients]int
	)
	defer func() { stop(); wg.Wait() }() // also when the test fails half way
	url := "http://" + spec.otlpHTTP + "/v1/logs"
	for c := range crashClients {
		wg.Go(func() { sent[c] = sendUntilStopped(ctx, t, url, c, &acked) })
	}

	for k := range crashKills {
		time.Sleep(crashMinBetween + rand.N(crashMaxBetween-crashMinBetween))
		if k%2 == 1 { // every other kill comes right after a client got a 200: nothing may be lost then
			select {
			case <-acked.next:
			case <-time.After(5 * time.Second):
			}
		}
		require.NoError(t, agent.Cmd.Process.Kill()) // SIGKILL: no flush, no shutdown
		_, _ = agent.Stop(5 * time.Second)
		agent = spec.start(t) // same data directory
	}
	// Load on the last agent too, so that its metrics count requests.
	last := acked.n.Load()
	testutil.Eventually(t, 30*time.Second, func() error {
		if got := acked.n.Load() - last; got < 2*crashClients {
			return fmt.Errorf("%d requests acknowledged since the last restart", got)
		}
		return nil
	})
	stop()
	wg.Wait()
	require.False(t, t.Failed(), "a client failed")

	requests := 0
	for _, n := range sent {
		requests += n
	}
	testutil.Eventually(t, 30*time.Second, func() error { // the gateway keeps up: little is left to deliver
		missing, first := 0, ""
		for c, n := range sent {
			for r := range n {
				for i := range crashRecords {
					body := crashBody(c, r, i)
					if sink.deliveries(body) == 0 {
						if missing++; first == "" {
							first = body
						}
						continue
					}
					if where, _ := sink.get(body); where != "cluster-a/node-of-agent" {
						return fmt.Errorf("%q arrived as %s", body, where)
					}
				}
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged records not delivered, %q among them", missing, requests*crashRecords, first)
		}
		return nil
	})

	duplicates := 0
	for c, n := range sent {
		for r := range n {
			for i := range crashRecords {
				if sink.deliveries(crashBody(c, r, i)) > 1 {
					duplicates++
				}
			}
		}
	}
	metricsURL := "http://127.0.0.1:" + spec.metricsPort + "/metrics"
	received, err := testutil.ScrapeSum(metricsURL, "vigil_otlprelay_received_items_total", `signal="logs"`)
	require.NoError(t, err)
	require.Positive(t, received, "the last agent counts the records it acknowledged")
	t.Logf("%d kills; %d requests (%d records) acknowledged, all delivered; %d records delivered more than once; the last agent received %.0f records; %s",
		crashKills, requests, requests*crashRecords, duplicates, received, time.Since(start).Round(time.Second))
}

func crashBody(client, request, i int) string { return fmt.Sprintf("c%d-r%d-%d", client, request, i) }

// acks counts acknowledged requests and tells the one waiting on next, if any, of each.
type acks struct {
	n    atomic.Int64
	next chan struct{}
}

func (a *acks) add() {
	a.n.Add(1)
	select {
	case a.next <- struct{}{}:
	default:
	}
}

// sendUntilStopped sends requests of client c to url, each until it is answered 200 (retrying
// every 50–100 ms while the agent is down, restarting or answers 429 / 503), until ctx ends or
// crashMaxPerCli requests are acknowledged. It returns how many were; any other answer fails t.
func sendUntilStopped(ctx context.Context, t *testing.T, url string, c int, acked *acks) int {
	client := &http.Client{Timeout: 5 * time.Second}
	for r := range crashMaxPerCli {
		select {
		case <-ctx.Done():
			return r
		case <-time.After(rand.N(crashPause)):
		}
		req := plogotlp.NewExportRequest()
		lrs := req.Logs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := range crashRecords {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.Body().SetStr(crashBody(c, r, i))
		}
		body, err := req.MarshalProto()
		if err != nil {
			t.Errorf("client %d: %v", c, err)
			return r
		}
		for {
			code, err := postOTLP(ctx, client, url, body)
			if ctx.Err() != nil {
				return r // not known to be acknowledged
			}
			if err == nil && code == http.StatusOK {
				acked.add()
				break
			}
			if err == nil && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
				t.Errorf("client %d request %d: answered %d", c, r, code)
				return r
			}
			select { // the agent is down or restarting: retry the same request
			case <-ctx.Done():
				return r
			case <-time.After(50*time.Millisecond + rand.N(50*time.Millisecond)):
			}
		}
	}
	return crashMaxPerCli
}

// postOTLP sends one OTLP/HTTP protobuf request and returns the status code.
func postOTLP(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, io.EOF) {
		return 0, err // the answer was cut: not known to be acknowledged
	}
	return resp.StatusCode, nil
}
