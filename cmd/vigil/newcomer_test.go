package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// TestNewcomerPath follows the README's "first five minutes" as a new user types them: post the
// sample EventList to the all-in-one, query the archive within a minute of the start, and see
// the example rule over vigil's own metrics fire within two.
func TestNewcomerPath(t *testing.T) {
	start := time.Now()
	// The README scrapes 127.0.0.1:8888; the test's all-in-one has its metrics on a free port.
	metricsPort := testutil.FreePort(t)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	a := startAllInOneOnMetricsPort(t, metricsPort, "--rules", "../../deploy/examples/first-alert.yaml",
		"--scrape", "vigil="+metricsURL, "--scrape-interval", "5s")

	events, err := os.ReadFile("../../receivers/k8sauditreceiver/testdata/eventlist.json")
	require.NoError(t, err)
	resp, err := http.Post("http://"+a.auditAddr+"/audit", "application/json", bytes.NewReader(events))
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(answer))
	require.Contains(t, string(answer), `"accepted":7`)

	// The README's query, word for word but for the data directory.
	query := `{cluster="local"} | json | line_format "{{.user_username}} {{.verb}} {{.objectRef_resource}}"`
	var lines []string
	testutil.Eventually(t, time.Minute-time.Since(start), func() error {
		out, _, err := executeSplit(t, "archive", "query", query, "--data-dir", a.dataDir)
		if err != nil {
			return err
		}
		lines = strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 7 {
			return fmt.Errorf("the archive answers %d lines, want 7:\n%s", len(lines), out)
		}
		return nil
	})
	// The sample is pretty-printed, as people write it: every event's fields are read.
	for _, want := range []string{"alice@example.com get pods", "system:serviceaccount:ci:deployer create secrets"} {
		require.Contains(t, strings.Join(lines, "\n"), want)
	}
	t.Logf("first archive answer %s after the start", time.Since(start).Round(time.Second))

	testutil.Eventually(t, 2*time.Minute-time.Since(start), func() error {
		body := getJSON(t, "http://"+a.apiAddr+"/api/v1/alerts")
		if !strings.Contains(body, `"alertname":"AuditEventsAccepted"`) || !strings.Contains(body, `"state":"firing"`) {
			return fmt.Errorf("no firing AuditEventsAccepted yet: %s", body)
		}
		return nil
	})
	t.Logf("first alert %s after the start", time.Since(start).Round(time.Second))
}
