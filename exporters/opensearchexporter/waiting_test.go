package opensearchexporter

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/opensearchtest"
)

// oldestAge reads vigil_opensearch_oldest_age_seconds.
func oldestAge(t *testing.T, tel *componenttest.Telemetry) float64 {
	t.Helper()
	m, err := tel.GetMetric("vigil_opensearch_oldest_age_seconds")
	require.NoError(t, err)
	dps := m.Data.(metricdata.Gauge[float64]).DataPoints
	require.Len(t, dps, 1)
	return dps[0].Value
}

func receivedAt(ld plog.Logs, at time.Time) plog.Logs {
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		lrs.At(i).SetObservedTimestamp(pcommon.NewTimestampFromTime(at))
	}
	return ld
}

// While OpenSearch refuses bulk requests, the age of the oldest waiting event is now minus its
// receipt time and grows, also while the retry sender waits between attempts (when pushLogs is
// not running); once everything is indexed it is 0.
func TestOldestAgeWhileOpenSearchRefuses(t *testing.T) {
	srv := opensearchtest.Start(t)
	var refuse atomic.Bool
	var refused atomic.Int64
	refuse.Store(true)
	tel, set, cfg := faultyBulks(t, srv, func() int {
		if refuse.Load() {
			refused.Add(1)
			return http.StatusServiceUnavailable
		}
		return 0
	})
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 2
	cfg.QueueConfig = configoptional.Some(q)
	cfg.RetryConfig.Enabled = true
	cfg.RetryConfig.InitialInterval = 100 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 0 // never give up
	ctx := context.Background()
	exp, err := createLogs(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	require.Zero(t, oldestAge(t, tel), "nothing waits")
	received := time.Now().Add(-90 * time.Second)
	require.NoError(t, exp.ConsumeLogs(ctx, receivedAt(auditLogs("a", "b"), received)))
	require.NoError(t, exp.ConsumeLogs(ctx, receivedAt(auditLogs("c"), time.Now())))
	require.Eventually(t, func() bool { return refused.Load() >= 4 }, 10*time.Second, 10*time.Millisecond,
		"both requests refused and retried")

	// Samples over several retry intervals: most fall between attempts.
	first := oldestAge(t, tel)
	prev := first
	for range 25 {
		time.Sleep(20 * time.Millisecond)
		age := oldestAge(t, tel)
		require.GreaterOrEqual(t, age, prev, "the age never drops while OpenSearch refuses")
		prev = age
	}
	require.InDelta(t, time.Since(received).Seconds(), prev, 1, "now minus the receipt time of the oldest event")
	require.Greater(t, prev-first, 0.4, "the age grows while OpenSearch refuses")

	refuse.Store(false)
	require.Eventually(t, func() bool { return srv.Count() == 3 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return oldestAge(t, tel) == 0 }, 5*time.Second, 10*time.Millisecond,
		"nothing waits once everything is indexed")
}

// A request OpenSearch rejects for good no longer waits.
func TestOldestAgeForgetsPermanentRejections(t *testing.T) {
	srv := opensearchtest.Start(t)
	status := atomic.Int64{}
	status.Store(http.StatusServiceUnavailable)
	tel, set, cfg := faultyBulks(t, srv, func() int { return int(status.Load()) })
	e, err := newExporter(set, cfg)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

	ld := receivedAt(auditLogs("a"), time.Now().Add(-time.Minute))
	require.Error(t, e.pushLogs(context.Background(), ld))
	require.InDelta(t, 60, oldestAge(t, tel), 5, "a retryable failure: the request still waits")
	status.Store(http.StatusBadRequest)
	require.Error(t, e.pushLogs(context.Background(), ld))
	require.Zero(t, oldestAge(t, tel))
}

func TestWaiting(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	w := newWaiting(10 * time.Minute)
	a := fingerprint{first: "a", last: "b", n: 2}
	b := fingerprint{first: "c", last: "c", n: 1}
	require.Zero(t, w.age(t0))

	w.begin(a, t0.Add(-30*time.Second), t0)
	w.end(a, false, t0.Add(time.Second)) // retryable
	require.Equal(t, 40*time.Second, w.age(t0.Add(10*time.Second)), "kept between attempts")
	w.begin(a, t0.Add(20*time.Second), t0.Add(20*time.Second)) // receipt time unknown: now
	require.Equal(t, 50*time.Second, w.age(t0.Add(20*time.Second)), "a retry keeps the first receipt time")

	w.begin(b, t0.Add(-time.Hour), t0.Add(20*time.Second)) // an older request, delivered
	require.Equal(t, time.Hour+21*time.Second, w.age(t0.Add(21*time.Second)))
	w.end(b, true, t0.Add(21*time.Second))
	require.Equal(t, 51*time.Second, w.age(t0.Add(21*time.Second)))
	w.begin(a, t0.Add(21*time.Second), t0.Add(21*time.Second)) // the same events, replayed, in flight too
	w.end(a, true, t0.Add(22*time.Second))
	require.Equal(t, 52*time.Second, w.age(t0.Add(22*time.Second)), "still in flight in the first call")

	// An attempt that outlasts staleAfter is not forgotten while it runs...
	require.Equal(t, 30*time.Minute+30*time.Second, w.age(t0.Add(30*time.Minute)))
	w.end(a, false, t0.Add(30*time.Minute))
	// ...but a request not attempted again for staleAfter is (the retry sender gave up on it).
	require.Equal(t, 40*time.Minute+30*time.Second, w.age(t0.Add(40*time.Minute)))
	require.Zero(t, w.age(t0.Add(40*time.Minute+time.Second)))

	w.begin(a, t0, t0)
	w.end(a, true, t0)
	require.Zero(t, w.age(t0.Add(time.Minute)), "delivered")

	require.Equal(t, 10*time.Minute, staleAfter(30*time.Second, 5*time.Second))
	require.Equal(t, 22*time.Minute, staleAfter(10*time.Minute, time.Minute))
}

// faultyBulks makes srv answer bulk requests with fault's status (0: as usual) and returns the
// telemetry, settings and configuration (no per-item retries) of an exporter sending to it.
func faultyBulks(t *testing.T, srv *opensearchtest.Server, fault func() int) (*componenttest.Telemetry, exporter.Settings, *Config) {
	t.Helper()
	srv.Mu.Lock()
	srv.RequestFault = func(r *http.Request) int {
		if strings.HasSuffix(r.URL.Path, "_bulk") {
			return fault()
		}
		return 0
	}
	srv.Mu.Unlock()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := testConfig(t, srv.URL)
	cfg.ItemRetries = 0
	return tel, set, cfg
}
