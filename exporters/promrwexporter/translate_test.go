package promrwexporter

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestTranslateTwiceSameRequest: translate changes the batch in place, so a retry of the same
// batch must translate to the same request, and the resources must be as they were.
func TestTranslateTwiceSameRequest(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("k8s.cluster.name", "prod-eu-1")
	res.PutStr("k8s.namespace.name", "shop")
	res.PutStr("k8s.pod.name", "checkout-0")
	res.PutStr("namespace", "spoofed") // a label name as a resource attribute: replaced
	res.PutStr("service.name", "checkout")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("queue_depth")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(1_700_000_000_000_000_000)
	dp.SetDoubleValue(3)
	dp.Attributes().PutStr("route", "/a")
	dp.Attributes().PutStr("pod", "other") // an identity label on a data point: dropped
	before := pmetric.NewMetrics()
	md.CopyTo(before)

	e := newExporter(exportertest.NewNopSettings(Type), createDefaultConfig())
	encode := func() []byte {
		c, err := e.translate(context.Background(), md)
		require.NoError(t, err)
		raw, err := c.marshal()
		require.NoError(t, err)
		return raw
	}
	raw := encode()
	require.Equal(t, raw, encode())
	require.Equal(t, before.ResourceMetrics().At(0).Resource().Attributes().AsRaw(), res.AsRaw())
	var first prompb.WriteRequest
	require.NoError(t, first.Unmarshal(raw))

	var found bool
	for _, ts := range first.Timeseries {
		ls := map[string]string{}
		for _, l := range ts.Labels {
			ls[l.Name] = l.Value
		}
		if ls["__name__"] != "queue_depth" {
			continue
		}
		found = true
		require.Equal(t, "shop", ls["namespace"])
		require.Equal(t, "checkout-0", ls["pod"])
		require.Equal(t, "prod-eu-1", ls["cluster"])
		require.Equal(t, "/a", ls["route"])
	}
	require.True(t, found, "queue_depth translated: %v", first.Timeseries)
}

// TestMarshalAsPrompb: the collector's encoder writes the bytes prompb's generated marshaller
// writes for the same series (labels with empty values, zero and NaN values, zero timestamps,
// several samples, exemplars, native histograms).
func TestMarshalAsPrompb(t *testing.T) {
	c := newCollector()
	h := &histogram.Histogram{Schema: 1, Count: 5, Sum: 12.5, ZeroThreshold: 0.001, ZeroCount: 1,
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{2, 0}}
	ex := storage.AppendV2Options{Exemplars: []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "0102"), Value: 1.5, Ts: 7, HasTs: true}}}
	add := func(ls labels.Labels, tm int64, v float64, h *histogram.Histogram, opts storage.AppendV2Options) {
		_, err := c.Append(0, ls, 0, tm, v, h, nil, opts)
		require.NoError(t, err)
	}
	add(labels.FromStrings("__name__", "up", "job", "a"), 1_700_000_000_000, 1, nil, storage.AppendV2Options{})
	add(labels.FromStrings("__name__", "up", "job", "a"), 1_700_000_015_000, 0, nil, storage.AppendV2Options{})
	add(labels.FromStrings("__name__", "x", "empty", ""), 0, math.NaN(), nil, ex)
	add(labels.FromStrings("__name__", "lat"), -5, 3, h, storage.AppendV2Options{})
	add(labels.FromStrings("__name__", "lat"), 10, 3, nil, storage.AppendV2Options{})
	got, err := c.marshal()
	require.NoError(t, err)
	want := prompb.WriteRequest{}
	for _, s := range c.series {
		var samples []prompb.Sample
		for _, smp := range s.samples {
			samples = append(samples, prompb.Sample{Timestamp: smp.t, Value: smp.v})
		}
		want.Timeseries = append(want.Timeseries, prompb.TimeSeries{Labels: prompb.FromLabels(s.labels, nil),
			Samples: samples, Exemplars: s.exemplars, Histograms: s.histograms})
	}
	wantRaw, err := want.Marshal()
	require.NoError(t, err)
	require.Equal(t, wantRaw, got)
	require.Len(t, want.Timeseries, 3)
}
