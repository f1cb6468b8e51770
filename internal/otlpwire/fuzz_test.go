package otlpwire

import (
	"strconv"
	"testing"
)

// fuzzAttrs are set by the fuzz targets: service.name is in the seeds' resources.
var fuzzAttrs = []Attr{{"service.name", "relay"}, {"vigil.agent", "a1"}, {"", "empty"}}

// fuzzKeys are the keys fuzzChooser reads: those of the seeds' resources.
var fuzzKeys = []string{"service.name", "host.name", "process.pid", "a", "b", "x", ""}

// fuzzChooser sets attributes that depend on what the resource has, or none.
func fuzzChooser(i int, r strReader) []Attr {
	sn, ok := r.Str("service.name")
	a, okA := r.Str("a")
	switch {
	case ok && okA:
		return []Attr{{"a", sn}, {"service.name", a}, {"", sn + a}}
	case ok:
		return []Attr{{"service.name", sn + "-relayed"}, {"vigil.agent", strconv.Itoa(i)}}
	case okA:
		return []Attr{{"b", a}, {"a", ""}, {"b", "last"}}
	case i%2 == 1:
		return nil
	}
	return fuzzAttrs
}

// fuzzCheck checks on req, a request of signal s, that Check accepts only what pdata accepts and
// counts as pdata does, and that SetResourceAttributes and SetResourceAttributesFunc do not
// panic and, where Check accepts req, give a request pdata decodes as req with fuzzAttrs (or
// what fuzzChooser chooses from pdata's reading of each resource) put into its resources, and
// that Resource reads as pdata does.
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
	for _, res := range oddResources {
		f.Add(msgField(1, res, msgField(2)))
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
		_, rerr := SetResourceAttributes(nil, req, s, fuzzAttrs)
		_, ferr := SetResourceAttributesFunc(nil, req, s, func(r Resource) []Attr {
			readStrs(r, fuzzKeys)
			return fuzzChooser(0, r)
		})
		if err != nil {
			return
		}
		if rerr != nil {
			t.Fatalf("check accepts, SetResourceAttributes refuses: %v", rerr)
		}
		if ferr != nil {
			t.Fatalf("check accepts, SetResourceAttributesFunc refuses: %v", ferr)
		}
		requireRewrite(t, s, req, fuzzAttrs)
		requireRewriteFunc(t, s, req, fuzzChooser)
		requireStrAsPdata(t, s, req, fuzzKeys)
	})
}

func FuzzCheckLogs(f *testing.F)    { fuzzCheck(f, Logs) }
func FuzzCheckTraces(f *testing.F)  { fuzzCheck(f, Traces) }
func FuzzCheckMetrics(f *testing.F) { fuzzCheck(f, Metrics) }
