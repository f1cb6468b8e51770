package lokipushexporter

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// benchLogs is a batch as the gateway gets it from an agent: 4 pods' resources (identity
// attributes) of 250 ~200-byte records each, with trace and span ids and three attributes.
func benchLogs() plog.Logs {
	ld := plog.NewLogs()
	base := time.Unix(1_700_000_000, 0)
	for p := range 4 {
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr("k8s.cluster.name", "prod-eu-1")
		res.PutStr("k8s.namespace.name", "shop")
		res.PutStr("k8s.deployment.name", "checkout")
		res.PutStr("k8s.pod.name", fmt.Sprintf("checkout-7d9f8c6b5-%05d", p))
		res.PutStr("k8s.node.name", fmt.Sprintf("node-%d", p))
		res.PutStr("k8s.container.name", "app")
		res.PutStr("service.name", "checkout")
		res.PutStr("service.instance.id", fmt.Sprintf("checkout-%d", p))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range 250 {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
			lr.SetSeverityNumber([]plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError}[i%3])
			lr.SetTraceID(pcommon.TraceID{byte(i), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(p)})
			lr.SetSpanID(pcommon.SpanID{byte(i), 2, 3, 4, 5, 6, 7, byte(p)})
			lr.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%08d?expand=items,customer HTTP/1.1 200 1532 bytes in 12.4ms user=svc-%d", i*7919, i%17))
			lr.Attributes().PutStr("http.request.method", "GET")
			lr.Attributes().PutInt("http.response.status_code", 200)
			lr.Attributes().PutStr("service.component", "checkout")
		}
	}
	return ld
}

// BenchmarkConvert is the exporter's CPU work for a batch of 1,000 records before the network:
// grouping into streams, structured metadata, protobuf and snappy.
func BenchmarkConvert(b *testing.B) {
	ld := benchLogs()
	n := ld.LogRecordCount()
	now := time.Now()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		var raw []byte
		for _, batch := range Convert(ld, func(string) string { return "" }, now) {
			var err error
			if raw, err = appendPush(raw[:0], &batch.Request); err != nil {
				b.Fatal(err)
			}
			_ = s2.EncodeSnappy(nil, raw)
		}
	}
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "records/s")
	// On a shared machine wall time counts other processes too: records per second of this
	// process's CPU (run with -cpu 1) is the per-core figure.
	b.ReportMetric(float64(b.N)*float64(n)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
