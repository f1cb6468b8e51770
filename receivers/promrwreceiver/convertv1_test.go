package promrwreceiver

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/internal/promlabels"
)

// sameAsSeries: convertV1 (from the wire) gives what convertSeries (through decoded series)
// gives for RW 1.0: the same metrics byte for byte (OTLP protobuf), the same rejections in the
// same order with the same messages, the same status, the same error.
func sameAsSeries(t *testing.T, raw []byte, cluster string, lim limits) {
	t.Helper()
	want, wantRej, wantStatus, wantErr := convertSeries(raw, ProtocolV1, cluster, lim)
	got, gotRej, gotStatus, gotErr := convertV1(raw, cluster, lim)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, want %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if gotStatus != wantStatus || fmt.Sprint(gotRej) != fmt.Sprint(wantRej) {
		t.Fatalf("status %d rejections %v, want %d %v", gotStatus, gotRej, wantStatus, wantRej)
	}
	var m pmetric.ProtoMarshaler
	wb, err := m.MarshalMetrics(want)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := m.MarshalMetrics(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		var j pmetric.JSONMarshaler
		gj, _ := j.MarshalMetrics(got)
		wj, _ := j.MarshalMetrics(want)
		t.Fatalf("metrics differ:\n got %s\nwant %s", gj, wj)
	}
}

// TestConvertV1MatchesSeries: the wire path and the decoded path agree on the real shapes and on
// every series the wire path hands over to the decoded one (and on mixes of both in a request).
func TestConvertV1MatchesSeries(t *testing.T) {
	ts := func(ls []prompb.Label, times ...int64) prompb.TimeSeries {
		s := prompb.TimeSeries{Labels: ls}
		for i, t := range times {
			s.Samples = append(s.Samples, prompb.Sample{Timestamp: t, Value: float64(i)})
		}
		return s
	}
	lbl := func(kv ...string) []prompb.Label {
		var out []prompb.Label
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, prompb.Label{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	target := func(name string, extra ...string) []prompb.Label {
		return prompb.FromLabels(targetLabels(name, extra...), nil)
	}
	noCluster := func(name string, extra ...string) []prompb.Label {
		b := labels.NewBuilder(targetLabels(name, extra...))
		b.Del(promlabels.ClusterLabel)
		return prompb.FromLabels(b.Labels(), nil)
	}
	cases := map[string]*prompb.WriteRequest{
		"real":          realV1(),
		"bench":         benchV1(500),
		"metadata only": {Metadata: realV1().Metadata},
		"mixed": {Timeseries: []prompb.TimeSeries{
			ts(target("a_total"), 1, 2, 3),
			ts(noCluster("b", "empty", ""), 5),                               // stamped, the empty label dropped
			ts(lbl("__name__", "c", "cluster", "", "job", "j", "zz", ""), 7), // an empty cluster is none
			ts(lbl("__name__", "d", "cluster", "prod-eu-1", "x", ""), 7),     // the credentials' own: the empty label kept
			ts(lbl("__name__", "e", "cluster", "other", "job", "j"), 7),      // another cluster: 403
			ts(target("f"), 3, 2, 4),                                         // out of order
			ts(target("g"), 3, 3),                                            // a duplicate timestamp
			ts(lbl("job", "j", "__name__", "h"), 1),                          // unsorted: accepted
			ts(lbl("__name__", "i", "a", "1", "a", "2"), 1),                  // duplicate name
			ts(lbl("job", "j"), 1),                                           // no name
			ts(lbl("__name__", "", "job", "j"), 1),                           // empty name
			ts(lbl("__name__", "k", "bad\xffname", "v"), 1),                  // invalid UTF-8 name
			ts(lbl("__name__", "l", "dotted.name", "v", "ünï", "v"), 1),      // valid UTF-8 names
			ts(lbl("__name__", "m", "l1", "1", "l2", "2", "l3", "3", "l4", "4", "l5", "5", "l6", "6", "l7", "7", "l8", "8")), // too many labels, no samples
			ts(target("n")),                      // no samples
			ts(target("a_total"), 4),             // the metric of the first series again
			ts(lbl("", "v", "__name__", "o"), 1), // an empty label name
			ts(noCluster("zzz_after_cluster"), 1),
			ts(lbl("AAA", "1", "__name__", "p"), 1),
			ts(lbl("__name__", "q", "code", "200", "method", "GET", "zone", ""), 1, 2),
		}},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			for _, lim := range []limits{{maxLabels: 64}, {maxLabels: 8}} {
				sameAsSeries(t, marshal(t, req), "prod-eu-1", lim)
			}
		})
	}
	// Every series alone, and every request cut short (malformed).
	mixed := cases["mixed"]
	for i := range mixed.Timeseries {
		raw := marshal(t, &prompb.WriteRequest{Timeseries: mixed.Timeseries[i : i+1]})
		sameAsSeries(t, raw, "prod-eu-1", limits{maxLabels: 8})
	}
	raw := marshal(t, mixed)
	for n := 0; n < len(raw); n += 7 {
		sameAsSeries(t, raw[:n], "prod-eu-1", limits{maxLabels: 8})
	}
}

// TestConvertKeepsNoReferenceToTheBody: the metrics convert returns do not point into the
// decompressed request, which the handler reuses for the next one (rawBuffers): overwriting it
// afterwards changes none of them, for either protocol, on either path.
func TestConvertKeepsNoReferenceToTheBody(t *testing.T) {
	for name, c := range map[string]struct {
		raw   []byte
		proto Protocol
	}{
		"v1 wire":    {marshal(t, benchV1(300)), ProtocolV1},
		"v1 decoded": {marshal(t, realV1()), ProtocolV1}, // exemplars and native histograms
		"v1 stamped": {marshal(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{mkSeries("up", "job", "j", "zone", "a")}}), ProtocolV1},
		"v2":         {marshal(t, realV2()), ProtocolV2},
	} {
		t.Run(name, func(t *testing.T) {
			raw := bytes.Clone(c.raw)
			md, _, _, err := convert(raw, c.proto, "prod-eu-1", limits{maxLabels: 64})
			if err != nil {
				t.Fatal(err)
			}
			if md.DataPointCount() == 0 {
				t.Fatal("nothing converted")
			}
			var m pmetric.ProtoMarshaler
			before, err := m.MarshalMetrics(md)
			if err != nil {
				t.Fatal(err)
			}
			for i := range raw {
				raw[i] = 'X'
			}
			after, err := m.MarshalMetrics(md)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("the metrics changed with the request body: they refer to it")
			}
		})
	}
}
