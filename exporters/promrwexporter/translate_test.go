package promrwexporter

import (
	"context"
	"testing"

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
	first, err := e.translate(context.Background(), md)
	require.NoError(t, err)
	second, err := e.translate(context.Background(), md)
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.Equal(t, before.ResourceMetrics().At(0).Resource().Attributes().AsRaw(), res.AsRaw())

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
