package otlpwire

import (
	"testing"
)

// fuzzAttrs are set by the fuzz targets: service.name is in the seeds' resources.
var fuzzAttrs = []Attr{{"service.name", "relay"}, {"vigil.agent", "a1"}, {"", "empty"}}

// fuzzCheck checks on req, a request of signal s, that Check accepts only what pdata accepts and
// counts as pdata does, and that SetResourceAttributes does not panic and, where Check accepts
// req, gives a request pdata decodes as req with fuzzAttrs put into its resources.
func fuzzCheck(f *testing.F, s Signal) {
	for _, tr := range testRequests(f) {
		if tr.signal == s && len(tr.req) <= 8<<10 {
			f.Add(tr.req)
		}
	}
	for _, c := range checkCases {
		if c.signal == s {
			f.Add(c.req)
		}
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		n, err := Check(s, req)
		d, perr := pdataDecode(s, req)
		if err == nil {
			if perr != nil {
				t.Fatalf("check accepts (%d items), pdata refuses: %v", n, perr)
			}
			if d.count() != n {
				t.Fatalf("check counts %d, pdata %d", n, d.count())
			}
		}
		out, rerr := SetResourceAttributes(nil, req, s, fuzzAttrs)
		if err != nil {
			return
		}
		if rerr != nil {
			t.Fatalf("check accepts, SetResourceAttributes refuses: %v", rerr)
		}
		requireRewrite(t, s, req, fuzzAttrs)
		_ = out
	})
}

func FuzzCheckLogs(f *testing.F)    { fuzzCheck(f, Logs) }
func FuzzCheckTraces(f *testing.F)  { fuzzCheck(f, Traces) }
func FuzzCheckMetrics(f *testing.F) { fuzzCheck(f, Metrics) }
