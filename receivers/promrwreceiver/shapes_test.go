package promrwreceiver

import (
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Shapes of what Prometheus 2.x/3.x remote-writes: a scrape's series with target labels and
// external labels, counters, classic histogram buckets, a stale marker, a native histogram (int
// and float), an exemplar, and metadata (RW 1.0 sends it in separate requests).

var nativeHist = &histogram.Histogram{
	Schema: 3, Count: 12, Sum: 18.4, ZeroThreshold: 1e-128, ZeroCount: 2,
	PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 2}}, PositiveBuckets: []int64{1, 1, -1, 0},
	NegativeSpans: []histogram.Span{{Offset: 0, Length: 1}}, NegativeBuckets: []int64{2},
}

func targetLabels(name string, extra ...string) labels.Labels {
	b := labels.NewBuilder(labels.FromStrings("__name__", name, "job", "kubernetes-pods", "instance", "10.1.2.3:8080",
		"namespace", "shop", "pod", "checkout-7d9f8-x2x4z", "container", "app", "node", "node-1", "cluster", "prod-eu-1"))
	for i := 0; i+1 < len(extra); i += 2 {
		b.Set(extra[i], extra[i+1])
	}
	return b.Labels()
}

// realV1 is a RW 1.0 request as Prometheus sends one batch.
func realV1() *prompb.WriteRequest {
	const ts = 1_700_000_000_000
	req := &prompb.WriteRequest{}
	add := func(ls labels.Labels, v float64) *prompb.TimeSeries {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: prompb.FromLabels(ls, nil),
			Samples: []prompb.Sample{{Timestamp: ts, Value: v}}})
		return &req.Timeseries[len(req.Timeseries)-1]
	}
	add(targetLabels("up"), 1)
	c := add(targetLabels("http_requests_total", "method", "GET", "code", "200"), 1027)
	c.Exemplars = []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"}}, Value: 0.12, Timestamp: ts}}
	for _, le := range []string{"0.1", "0.5", "1", "+Inf"} {
		add(targetLabels("http_request_duration_seconds_bucket", "le", le), 10)
	}
	add(targetLabels("http_request_duration_seconds_sum"), 3.2)
	add(targetLabels("http_request_duration_seconds_count"), 10)
	add(targetLabels("process_resident_memory_bytes"), math.Float64frombits(value.StaleNaN))
	req.Timeseries = append(req.Timeseries,
		prompb.TimeSeries{Labels: prompb.FromLabels(targetLabels("rpc_latency_seconds"), nil),
			Histograms: []prompb.Histogram{prompb.FromIntHistogram(ts, nativeHist)}},
		prompb.TimeSeries{Labels: prompb.FromLabels(targetLabels("rpc_size_bytes"), nil),
			Histograms: []prompb.Histogram{prompb.FromFloatHistogram(ts, nativeHist.ToFloat(nil))}})
	req.Metadata = []prompb.MetricMetadata{
		{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests."},
		{Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "http_request_duration_seconds", Help: "Latency."},
	}
	return req
}

// realV2 is the same batch as RW 2.0 sends it: symbols, metadata on each series.
func realV2() *writev2.Request {
	const ts = 1_700_000_000_000
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	add := func(ls labels.Labels, typ writev2.Metadata_MetricType, help string) *writev2.TimeSeries {
		req.Timeseries = append(req.Timeseries, writev2.TimeSeries{LabelsRefs: st.SymbolizeLabels(ls, nil),
			Metadata: writev2.Metadata{Type: typ, HelpRef: st.Symbolize(help)}})
		return &req.Timeseries[len(req.Timeseries)-1]
	}
	add(targetLabels("up"), writev2.Metadata_METRIC_TYPE_GAUGE, "").Samples = []writev2.Sample{{Timestamp: ts, Value: 1}}
	c := add(targetLabels("http_requests_total", "method", "GET", "code", "200"), writev2.Metadata_METRIC_TYPE_COUNTER, "Requests.")
	c.Samples = []writev2.Sample{{Timestamp: ts, Value: 1027}}
	c.Exemplars = []writev2.Exemplar{{LabelsRefs: st.SymbolizeLabels(labels.FromStrings("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), nil), Value: 0.12, Timestamp: ts}}
	add(targetLabels("rpc_latency_seconds"), writev2.Metadata_METRIC_TYPE_HISTOGRAM, "RPC latency.").Histograms =
		[]writev2.Histogram{writev2.FromIntHistogram(0, ts, nativeHist)}
	add(targetLabels("temperature_celsius"), writev2.Metadata_METRIC_TYPE_GAUGE, "").Samples = []writev2.Sample{{Timestamp: ts, Value: 21.5}, {Timestamp: ts + 15000, Value: 21.7}}
	req.Symbols = st.Symbols()
	return req
}

// benchV1 is a RW 1.0 request of n series × 1 sample with 10 labels each, as Prometheus batches
// the scrapes of its targets (max_samples_per_send 2000 in 2.x): 100 series per target (pod).
func benchV1(n int) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, n)}
	for i := range n {
		target := i / 100
		ls := labels.FromStrings("__name__", fmt.Sprintf("http_requests_%d_total", i%50), "job", "kubernetes-pods",
			"instance", fmt.Sprintf("10.1.%d.%d:8080", target/250, target%250), "namespace", fmt.Sprintf("ns-%d", target%7),
			"pod", fmt.Sprintf("app-%d-7d9f8", target), "container", "app", "node", fmt.Sprintf("node-%d", target%20),
			"cluster", "prod-eu-1", "method", []string{"GET", "POST"}[(i/50)%2], "code", "200")
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: prompb.FromLabels(ls, nil),
			Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000, Value: float64(i)}}})
	}
	return req
}

func marshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
