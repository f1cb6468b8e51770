package alertexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// The alert core reports its own failures: an Alertmanager that does not answer shows in
// vigil_alert_notification_errors and vigil_alert_notifications_dropped, by Alertmanager, beside
// the queue's length and capacity and the rule manager's evaluation metrics.
func TestNotifierFailuresAreExported(t *testing.T) {
	down := testutil.FreeAddr(t) // nothing listens here
	cfg := createDefaultConfig()
	cfg.RuleFiles = []string{writeRules(t, lagHighRule)}
	cfg.Alertmanagers = []string{"http://" + down}
	cfg.MinEvalInterval = 50 * time.Millisecond
	cfg.ResendDelay = 100 * time.Millisecond
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	require.NoError(t, exp.ConsumeMetrics(context.Background(), lag("db-1:9187", 45, time.Now())))
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, name := range []string{"vigil_alert_notification_errors", "vigil_alert_notifications_dropped"} {
			v, am, err := floatSum(tel, name)
			if err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("%s is 0", name)
			}
			require.Equal(t, "http://"+down+"/api/v2/alerts", am, "%s is by Alertmanager", name)
		}
		return nil
	})
	capacity, _, err := floatSum(tel, "vigil_alert_notification_queue_capacity")
	require.NoError(t, err)
	require.Equal(t, 10_000.0, capacity)
	ams, _, err := floatSum(tel, "vigil_alert_alertmanagers")
	require.NoError(t, err)
	require.Equal(t, 1.0, ams)
	_, _, err = floatSum(tel, "vigil_alert_rule_group_iterations_missed")
	require.NoError(t, err, "the rule manager's metrics are exported too")
}

// floatSum is the sum of a float metric's points, and the alertmanager attribute of the last one.
func floatSum(tel *componenttest.Telemetry, name string) (float64, string, error) {
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0, "", err
	}
	var points []metricdata.DataPoint[float64]
	switch d := m.Data.(type) {
	case metricdata.Sum[float64]:
		points = d.DataPoints
	case metricdata.Gauge[float64]:
		points = d.DataPoints
	default:
		return 0, "", fmt.Errorf("%s: unexpected data %T", name, m.Data)
	}
	sum, am := 0.0, ""
	for _, p := range points {
		sum += p.Value
		if v, ok := p.Attributes.Value("alertmanager"); ok {
			am = v.AsString()
		}
	}
	return sum, am, nil
}
