package evidenceprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func TestRecordsWarningLinesAndPassesEverything(t *testing.T) {
	ef := evidenceextension.NewFactory()
	ext, err := ef.Create(context.Background(), extensiontest.NewNopSettings(ef.Type()), ef.CreateDefaultConfig())
	require.NoError(t, err)
	index := ext.(evidenceextension.Provider).Index()
	host := testutil.Host(map[component.ID]component.Component{component.NewID(evidenceextension.Type): ext})

	sink := &consumertest.LogsSink{}
	f := NewFactory()
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(Type), f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for k, v := range map[string]string{"k8s.cluster.name": "c", "k8s.namespace.name": "shop", "k8s.pod.name": "checkout-1",
		"service.name": "checkout", "service.instance.id": "i-1"} {
		rl.Resource().Attributes().PutStr(k, v)
	}
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	at := time.Unix(1_800_000_000, 0)
	add := func(n plog.SeverityNumber, text, body string, observed bool) {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(n)
		lr.SetSeverityText(text)
		if observed {
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at))
		} else {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		}
		lr.Body().SetStr(body)
	}
	add(plog.SeverityNumberInfo, "", "info", false)
	add(plog.SeverityNumberWarn, "", "warn by number", false)
	add(plog.SeverityNumberUnspecified, "ERROR", "error by text", true)
	add(plog.SeverityNumberUnspecified, "notice", "notice by text", false)
	add(plog.SeverityNumberFatal, "", "fatal", false)
	m := lrs.AppendEmpty()
	m.SetSeverityNumber(plog.SeverityNumberError)
	m.Body().SetEmptyMap().PutStr("msg", "a map body")

	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.Equal(t, 6, sink.LogRecordCount(), "every record passes")

	got := index.Lookup(evidenceextension.Query{Resource: evidenceextension.Resource{Cluster: "c", Namespace: "shop", Pod: "checkout-1"}, Max: 10})
	var texts []string
	for _, l := range got {
		texts = append(texts, l.Level+" "+l.Text)
		require.Equal(t, evidenceextension.Resource{Cluster: "c", Namespace: "shop", Pod: "checkout-1", Service: "checkout", Instance: "i-1"}, l.Resource)
		if l.Text != `{"msg":"a map body"}` {
			require.True(t, l.Time.Equal(at), "the record's time, else its observed time: %s", l.Text)
		}
	}
	require.ElementsMatch(t, []string{"warn warn by number", "error error by text", "fatal fatal", `error {"msg":"a map body"}`}, texts)
}

func TestStartFailsWithoutTheExtension(t *testing.T) {
	f := NewFactory()
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(Type), f.CreateDefaultConfig(), &consumertest.LogsSink{})
	require.NoError(t, err)
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `extension "evidence" is not an evidence extension listed in service.extensions`)
}
