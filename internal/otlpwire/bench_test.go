package otlpwire

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// benchLogs is a logs request of 512 log records of about 300 bytes, as an agent sends them.
func benchLogs(b *testing.B) []byte {
	b.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "node-17.example.internal")
	rl.Resource().Attributes().PutStr("k8s.pod.name", "checkout-7d9f8b6c5-x2x9q")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/vigil-obs/vigil/receivers/filelogreceiver")
	for i := range 512 {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
		lr.SetObservedTimestamp(pcommon.Timestamp(1_700_000_000_000_000_100 + i))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%06d 200 %dms user=%s", i, i%97, strings.Repeat("u", 120)))
		lr.Attributes().PutStr("http.method", "GET")
		lr.Attributes().PutInt("http.status_code", 200)
		lr.Attributes().PutStr("log.file.path", "/var/log/pods/checkout/app/0.log")
		lr.Attributes().PutDouble("duration", float64(i)/10)
		lr.SetTraceID(traceID(i))
		lr.SetSpanID(spanID(i))
	}
	return marshal(b, ld)
}

func BenchmarkCheckLogs(b *testing.B) {
	req := benchLogs(b)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := Check(Logs, req); err != nil || n != 512 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(len(req))/512, "B/record")
}

func BenchmarkPdataUnmarshalLogs(b *testing.B) {
	req := benchLogs(b)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		r := plogotlp.NewExportRequest()
		if err := r.UnmarshalProto(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetResourceAttributes(b *testing.B) {
	req := benchLogs(b)
	attrs := []Attr{{"host.name", "node-18.example.internal"}, {"vigil.agent", "agent-1"}}
	dst := make([]byte, 0, len(req)+256)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = SetResourceAttributes(dst[:0], req, Logs, attrs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetResourceAttributesFunc: the relay's use, pod attributes looked up by pod uid.
func BenchmarkSetResourceAttributesFunc(b *testing.B) {
	req, err := SetResourceAttributes(nil, benchLogs(b), Logs, []Attr{{"k8s.pod.uid", "6f1c2a4e-0001"}})
	if err != nil {
		b.Fatal(err)
	}
	pods := newPodAttrs()
	dst := make([]byte, 0, len(req)+256)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = SetResourceAttributesFunc(dst[:0], req, Logs, pods.attrs); err != nil {
			b.Fatal(err)
		}
	}
	if len(dst) <= len(req) {
		b.Fatal("no attributes set")
	}
}
