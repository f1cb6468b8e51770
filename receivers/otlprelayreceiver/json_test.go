package otlprelayreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// TestJSONToProto: an OTLP/JSON request of each signal becomes the protobuf of the same request;
// a malformed one is refused with a message.
func TestJSONToProto(t *testing.T) {
	logs := plog.NewLogs()
	logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	traces := ptrace.NewTraces()
	traces.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("span")
	metrics := pmetric.NewMetrics()
	metrics.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(7)
	for _, c := range []struct {
		s    otlpwire.Signal
		req  interface{ MarshalJSON() ([]byte, error) }
		want interface{ MarshalProto() ([]byte, error) }
	}{
		{otlpwire.Logs, plogotlp.NewExportRequestFromLogs(logs), plogotlp.NewExportRequestFromLogs(logs)},
		{otlpwire.Traces, ptraceotlp.NewExportRequestFromTraces(traces), ptraceotlp.NewExportRequestFromTraces(traces)},
		{otlpwire.Metrics, pmetricotlp.NewExportRequestFromMetrics(metrics), pmetricotlp.NewExportRequestFromMetrics(metrics)},
	} {
		js, err := c.req.MarshalJSON()
		require.NoError(t, err)
		got, err := jsonToProto(c.s, js)
		require.NoError(t, err)
		want, err := c.want.MarshalProto()
		require.NoError(t, err)
		require.Equal(t, want, got, "signal %v", c.s)
		_, err = jsonToProto(c.s, []byte(`{"resourceLogs":`))
		require.ErrorContains(t, err, "cannot decode the OTLP/JSON request")
	}
}
