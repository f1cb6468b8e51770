package alertexporter

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// exposition is a /metrics page in the Prometheus text format 0.0.4 with every type and the
// names that a second translation would change: a counter without _total, a recording-rule-like
// name with colons, a label with a double underscore, otel_scope_* labels.
const exposition = `# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total{path="/a"} 7
app_requests_total{path="/b"} 1
# TYPE app_jobs counter
app_jobs 3
# TYPE app_temperature_celsius gauge
app_temperature_celsius{sensor__id="x"} 21.5
# TYPE job:app_requests:rate5m gauge
job:app_requests:rate5m 0.5
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le="0.1"} 1
app_latency_seconds_bucket{le="1"} 3
app_latency_seconds_bucket{le="+Inf"} 4
app_latency_seconds_sum 2.5
app_latency_seconds_count 4
# TYPE app_gc_seconds summary
app_gc_seconds{quantile="0.5"} 0.01
app_gc_seconds{quantile="0.99"} 0.03
app_gc_seconds_sum 0.2
app_gc_seconds_count 10
app_untyped 5
# TYPE app_scoped gauge
app_scoped{otel_scope_name="lib",otel_scope_version="1.2",kind="k"} 1
`

// target serves exposition (or, after down(), 503) on 127.0.0.1.
type target struct {
	srv    *httptest.Server
	failed atomic.Bool
}

func startTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if tg.failed.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) hostPort() string { return strings.TrimPrefix(tg.srv.URL, "http://") }

// scrapedSamples runs the contrib prometheus receiver on the target (job "app", every second)
// and the alert exporter's converter on what it produces.
type scrapedSamples struct {
	mu      sync.Mutex
	latest  map[string]float64 // series -> newest value
	batches int
}

func startScrape(t *testing.T, hostPort string) *scrapedSamples {
	t.Helper()
	s := &scrapedSamples{latest: map[string]float64{}}
	conv := newConverter(nil)
	conv.discard = func(reason string, n int) { t.Errorf("%d samples discarded: %s", n, reason) }
	conv.emit = func(l labels.Labels, _ int64, f float64) { s.latest[l.String()] = f }
	next, err := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		conv.convert(md)
		s.batches++
		return nil
	})
	require.NoError(t, err)

	f := prometheusreceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"discovery_reload_on_startup": true,
		"config": map[string]any{"scrape_configs": []any{map[string]any{
			"job_name":        "app",
			"scrape_interval": "1s",
			"static_configs":  []any{map[string]any{"targets": []any{hostPort}}},
		}}},
	}).Unmarshal(cfg))
	rcv, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return s
}

func (s *scrapedSamples) snapshot() (map[string]float64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]float64, len(s.latest))
	for k, v := range s.latest {
		out[k] = v
	}
	return out, s.batches
}

// TestScrapedMetricsKeepPrometheusNames: what the real prometheus receiver makes of a real
// /metrics page converts back to the series Prometheus itself stores, names and labels unchanged.
func TestScrapedMetricsKeepPrometheusNames(t *testing.T) {
	if testing.Short() {
		t.Skip("scrapes with the prometheus receiver; skipped with -short")
	}
	tg := startTarget(t)
	s := startScrape(t, tg.hostPort())
	inst := `instance="` + tg.hostPort() + `", job="app"`
	want := map[string]float64{
		`{__name__="app_requests_total", ` + inst + `, path="/a"}`:                                         7,
		`{__name__="app_requests_total", ` + inst + `, path="/b"}`:                                         1,
		`{__name__="app_jobs", ` + inst + `}`:                                                              3,
		`{__name__="app_temperature_celsius", ` + inst + `, sensor__id="x"}`:                               21.5,
		`{__name__="job:app_requests:rate5m", ` + inst + `}`:                                               0.5,
		`{__name__="app_latency_seconds_bucket", ` + inst + `, le="0.1"}`:                                  1,
		`{__name__="app_latency_seconds_bucket", ` + inst + `, le="1"}`:                                    3,
		`{__name__="app_latency_seconds_bucket", ` + inst + `, le="+Inf"}`:                                 4,
		`{__name__="app_latency_seconds_sum", ` + inst + `}`:                                               2.5,
		`{__name__="app_latency_seconds_count", ` + inst + `}`:                                             4,
		`{__name__="app_gc_seconds", ` + inst + `, quantile="0.5"}`:                                        0.01,
		`{__name__="app_gc_seconds", ` + inst + `, quantile="0.99"}`:                                       0.03,
		`{__name__="app_gc_seconds_sum", ` + inst + `}`:                                                    0.2,
		`{__name__="app_gc_seconds_count", ` + inst + `}`:                                                  10,
		`{__name__="app_untyped", ` + inst + `}`:                                                           5,
		`{__name__="app_scoped", ` + inst + `, kind="k", otel_scope_name="lib", otel_scope_version="1.2"}`: 1,
		`{__name__="up", ` + inst + `}`:                                                                    1,
	}
	var got map[string]float64
	testutil.Eventually(t, 15*time.Second, func() error {
		got, _ = s.snapshot()
		for series := range want {
			if _, ok := got[series]; !ok {
				return fmt.Errorf("no sample of %s yet; have %v", series, slices.Sorted(maps.Keys(got)))
			}
		}
		return nil
	})
	for series, v := range want {
		require.Equal(t, v, got[series], series) //nolint:testifylint // exact values from the page
	}
	for _, internal := range []string{"scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"} {
		require.Contains(t, got, `{__name__="`+internal+`", `+inst+`}`)
	}
	require.Len(t, got, len(want)+4, "no other series: %v", slices.Sorted(maps.Keys(got)))

	// The target fails: up is 0, every series it exposed gets a staleness marker.
	tg.failed.Store(true)
	testutil.Eventually(t, 15*time.Second, func() error {
		got, _ = s.snapshot()
		if up := got[`{__name__="up", `+inst+`}`]; up != 0 {
			return fmt.Errorf("up = %v", up)
		}
		for series := range want {
			if strings.HasPrefix(series, `{__name__="up"`) {
				continue
			}
			if !value.IsStaleNaN(got[series]) {
				return fmt.Errorf("%s = %v, want a staleness marker", series, got[series])
			}
		}
		return nil
	})
}

// TestScrapedSeriesMatchPrometheus: a real Prometheus and the prometheus receiver scrape the same
// target under the same job; the alert exporter sees exactly the series Prometheus stores.
func TestScrapedSeriesMatchPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus; skipped with -short")
	}
	tg := startTarget(t)
	// Prometheus's instance label is the target as configured: use the same host:port for both.
	host, port, err := net.SplitHostPort(tg.hostPort())
	require.NoError(t, err)
	prom := testutil.StartPrometheus(t, "app", net.JoinHostPort(host, port))
	s := startScrape(t, tg.hostPort())

	var fromProm, fromVigil []string
	testutil.Eventually(t, 20*time.Second, func() error {
		var err error
		fromProm, err = prom.Series(`{job="app"}`)
		if err != nil {
			return err
		}
		got, _ := s.snapshot()
		fromVigil = slices.Sorted(maps.Keys(got))
		if len(fromProm) < 20 { // the page's 16 series, up and the 4 scrape_* series: 21
			return fmt.Errorf("Prometheus has only %v", fromProm)
		}
		if !slices.Equal(fromProm, fromVigil) {
			return fmt.Errorf("Prometheus has %v\nvigil has %v", fromProm, fromVigil)
		}
		return nil
	})
	require.Len(t, fromProm, 21, "%v", fromProm)
}
