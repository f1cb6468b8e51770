package lokipushexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension/walstoragetest"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// lokiGet asks Loki's HTTP API as tenant.
func lokiGet(base, path, tenant string, params url.Values, out any) error {
	req, err := http.NewRequest(http.MethodGet, base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// queryStreams runs a LogQL log query over the last hours as tenant.
func queryStreams(base, tenant, q string) (loghttp.Streams, error) {
	params := url.Values{"query": {q}, "limit": {"5000"},
		"start": {strconv.FormatInt(time.Now().Add(-2*time.Hour).UnixNano(), 10)}, "end": {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)}}
	var qr loghttp.QueryResponse
	if err := lokiGet(base, "/loki/api/v1/query_range", tenant, params, &qr); err != nil {
		return nil, err
	}
	s, _ := qr.Data.Result.(loghttp.Streams)
	return s, nil
}

func countEntries(s loghttp.Streams) int {
	n := 0
	for _, st := range s {
		n += len(st.Entries)
	}
	return n
}

func TestRoundTripThroughRealLoki(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Loki; skipped with -short")
	}
	loki := testutil.StartLokiWith(t, testutil.LokiOptions{AuthEnabled: true, StructuredMetadata: true})
	_, consume := startExporter(t, loki.URL, func(c *Config) {
		c.Tenants = map[string]string{"prod-eu": "team-eu"}
		c.DefaultTenant = "other"
	})
	now := time.Now()
	ld := plog.NewLogs()
	for i, cluster := range []string{"prod-eu", "prod-us"} {
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr("k8s.cluster.name", cluster)
		res.PutStr("k8s.namespace.name", "shop")
		res.PutStr("k8s.deployment.name", "cart")
		res.PutStr("k8s.container.name", "server")
		res.PutStr("service.name", "cart-api")
		res.PutStr("k8s.pod.name", "cart-7d9f-"+strconv.Itoa(i))
		res.PutStr("k8s.node.name", "node-"+strconv.Itoa(i))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for j := 0; j < 5; j++ {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("%s request %d", cluster, j))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(j-10) * time.Second)))
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetTraceID(pcommon.TraceID{byte(i + 1), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(j)})
			lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(j)})
		}
	}
	require.NoError(t, consume(ld))

	var streams loghttp.Streams
	testutil.Eventually(t, 60*time.Second, func() error {
		var err error
		streams, err = queryStreams(loki.URL, "team-eu", `{cluster="prod-eu"}`)
		if err == nil && countEntries(streams) != 5 {
			err = fmt.Errorf("loki has %d of 5 lines of tenant team-eu", countEntries(streams))
		}
		return err
	})
	// Loki's answer merges each line's structured metadata into its stream's labels.
	for _, st := range streams {
		for k, v := range map[string]string{"cluster": "prod-eu", "namespace": "shop", "workload": "cart", "container": "server",
			"service_name": "cart-api", "level": "error", "pod": "cart-7d9f-0", "node": "node-0"} {
			require.Equal(t, v, st.Labels[k], "label or structured metadata %s", k)
		}
		require.Len(t, st.Labels["trace_id"], 32)
	}
	// Structured metadata can be filtered on per line: trace_id of the third line.
	one, err := queryStreams(loki.URL, "team-eu", `{cluster="prod-eu"} | trace_id="0102030405060708090a0b0c0d0e0f02"`)
	require.NoError(t, err)
	require.Equal(t, 1, countEntries(one))
	require.Equal(t, "prod-eu request 2", one[0].Entries[0].Line)
	require.Equal(t, "0102030405060702", one[0].Labels["span_id"])

	// Indexed labels are the bounded set; pod, node and the ids are not among them.
	var labels struct {
		Data []string `json:"data"`
	}
	require.NoError(t, lokiGet(loki.URL, "/loki/api/v1/labels", "team-eu", url.Values{}, &labels))
	slices.Sort(labels.Data)
	require.Equal(t, []string{"cluster", "container", "level", "namespace", "service_name", "workload"}, labels.Data)

	// The other cluster went to the default tenant, and only there.
	testutil.Eventually(t, 30*time.Second, func() error {
		s, err := queryStreams(loki.URL, "other", `{cluster="prod-us"}`)
		if err == nil && countEntries(s) != 5 {
			err = fmt.Errorf("tenant other has %d of 5 lines", countEntries(s))
		}
		return err
	})
	s, err := queryStreams(loki.URL, "team-eu", `{cluster="prod-us"}`)
	require.NoError(t, err)
	require.Zero(t, countEntries(s), "no line of prod-us under tenant team-eu")
}

// durable is an exporter on a walstorage queue whose directory outlives it.
func durable(t *testing.T, queueDir, deadDir, endpoint string) (exporter.Logs, extension.Extension) {
	t.Helper()
	ws := walstoragetest.Start(t, queueDir)
	cfg := createDefaultConfig()
	cfg.ClientConfig.Endpoint = endpoint
	cfg.DeadLetterDir = deadDir
	cfg.RetryConfig.InitialInterval, cfg.RetryConfig.MaxInterval = 50*time.Millisecond, 200*time.Millisecond
	id := component.NewID(walstorageextension.Type)
	cfg.QueueConfig.GetOrInsertDefault().StorageID = &id
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	set.ID = component.NewID(Type) // stable across restarts, as in a collector
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), testutil.Host(map[component.ID]component.Component{id: ws})))
	return exp, ws
}

func TestNothingAcknowledgedIsLostWhileLokiIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Loki; skipped with -short")
	}
	testutil.RequireBinary(t, "loki", testutil.LokiInstallHint)
	addr := testutil.FreeAddr(t)
	queueDir, deadDir := t.TempDir(), t.TempDir()
	const n = 60
	now := time.Now()
	batch := func(from int) plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.cluster.name", "down")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := from; i < from+n/3; i++ {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("line %03d", i))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i-n) * time.Second)))
		}
		return ld
	}
	// Loki is down: the queue acknowledges, then vigil restarts with the logs still queued.
	exp, ws := durable(t, queueDir, deadDir, "http://"+addr)
	require.NoError(t, exp.ConsumeLogs(context.Background(), batch(0)))
	require.NoError(t, exp.ConsumeLogs(context.Background(), batch(n/3)))
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ws.Shutdown(context.Background()))

	exp, ws = durable(t, queueDir, deadDir, "http://"+addr)
	t.Cleanup(func() {
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, ws.Shutdown(context.Background()))
	})
	require.NoError(t, exp.ConsumeLogs(context.Background(), batch(2*n/3)))
	time.Sleep(300 * time.Millisecond)

	loki := testutil.StartLokiWith(t, testutil.LokiOptions{HTTPAddr: addr, StructuredMetadata: true})
	testutil.Eventually(t, 90*time.Second, func() error {
		s, err := queryStreams(loki.URL, "fake", `{cluster="down"}`)
		if err != nil {
			return err
		}
		if got := countEntries(s); got != n {
			return fmt.Errorf("loki has %d of %d lines", got, n)
		}
		return nil
	})
	s, err := queryStreams(loki.URL, "fake", `{cluster="down"}`)
	require.NoError(t, err)
	var lines []string
	for _, st := range s {
		for _, e := range st.Entries {
			lines = append(lines, e.Line)
		}
	}
	slices.Sort(lines)
	for i, l := range lines {
		require.Equal(t, fmt.Sprintf("line %03d", i), l, "every line once")
	}
}
