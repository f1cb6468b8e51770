package promrwreceiver

import (
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// fuzzConvert runs a decompressed body through the receiver's decode and convert path: it must
// never panic, and what it keeps and rejects must account for what it was sent.
func fuzzConvert(t *testing.T, raw []byte, proto Protocol) {
	md, rejected, status, err := convert(raw, proto, "prod-eu-1", limits{maxLabels: 64})
	if err != nil {
		return
	}
	if len(rejected) > 0 && status != 400 && status != 403 {
		t.Fatalf("rejections answered %d", status)
	}
	for _, rm := range md.ResourceMetrics().All() {
		if v, ok := rm.Resource().Attributes().Get("k8s.cluster.name"); !ok || v.Str() != "prod-eu-1" {
			t.Fatalf("a kept series is not of the credentials' cluster: %v", rm.Resource().Attributes().AsRaw())
		}
	}
}

func FuzzDecodeV1(f *testing.F) {
	f.Add(marshal(f, realV1()))
	f.Add(marshal(f, benchV1(3)))
	f.Add(marshal(f, &prompb.WriteRequest{Metadata: realV1().Metadata})) // metadata-only, as RW 1.0 sends it
	huge := realV1()
	huge.Timeseries[len(huge.Timeseries)-1].Histograms[0].PositiveSpans = []prompb.BucketSpan{{Offset: 1 << 30, Length: 1}}
	f.Add(marshal(f, huge))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsGenerated(t, raw)
		sameAsSeries(t, raw, "prod-eu-1", limits{maxLabels: 8})
		fuzzConvert(t, raw, ProtocolV1)
	})
}

func FuzzDecodeV2(f *testing.F) {
	f.Add(marshal(f, realV2()))
	bad := realV2()
	bad.Timeseries[0].LabelsRefs = append(bad.Timeseries[0].LabelsRefs, 9999, 0) // a symbol out of range
	f.Add(marshal(f, bad))
	huge := realV2()
	huge.Timeseries[2].Histograms[0].PositiveSpans = []writev2.BucketSpan{{Offset: 1 << 30, Length: 1}}
	f.Add(marshal(f, huge))
	f.Fuzz(func(t *testing.T, raw []byte) { fuzzConvert(t, raw, ProtocolV2) })
}

// TestHostileHistogramSpans: a native histogram whose spans put a bucket a billion indexes away
// is refused alone, in bounded time and memory, not expanded into a billion zero buckets.
func TestHostileHistogramSpans(t *testing.T) {
	for _, offset := range []int32{1 << 30, -(1 << 30)} {
		req := realV1()
		h := &req.Timeseries[len(req.Timeseries)-1].Histograms[0]
		h.PositiveSpans = []prompb.BucketSpan{{Offset: 0, Length: 1}, {Offset: offset, Length: 1}}
		h.PositiveCounts = []float64{1, 2}
		md, rejected, _, err := convert(marshal(t, req), ProtocolV1, "prod-eu-1", limits{maxLabels: 64})
		if err != nil {
			t.Fatal(err)
		}
		if len(rejected) == 0 {
			t.Fatalf("offset %d: the histogram was not rejected", offset)
		}
		if md.DataPointCount() != len(req.Timeseries)-1 {
			t.Fatalf("offset %d: %d points kept, want the %d others", offset, md.DataPointCount(), len(req.Timeseries)-1)
		}
	}
}

// TestEmptyClusterLabelIsNone: a series with an empty cluster label (found by FuzzDecodeV1) gets
// the credentials' cluster like one without it; it never leaves with an empty cluster.
func TestEmptyClusterLabelIsNone(t *testing.T) {
	url, sink := startReceiver(t, nil)
	if code, msg := post(t, url, encode(t, mkSeries("up", "cluster", "", "job", "j"))); code != 204 {
		t.Fatalf("%d %s", code, msg)
	}
	got := sink.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().AsRaw()["k8s.cluster.name"]
	if got != "prod-eu-1" {
		t.Fatalf("k8s.cluster.name %q, want the credentials' prod-eu-1", got)
	}
}

// sameAsGenerated: whatever the generated decoder reads, decodeV1Fast reads the same: series,
// types, samples (bit for bit), histograms, exemplars, and rejections. The generated decoder
// (gogo/protobuf) also accepts some malformed encodings (overlong varints, mismatched group
// markers) that decodeV1Fast refuses with 400; for those, the same message encoded properly
// must read the same.
func sameAsGenerated(t *testing.T, raw []byte) {
	want, wantRej, err := decodeV1Proto(raw, limits{maxLabels: 8})
	if err != nil {
		return
	}
	if _, _, err := decodeV1Fast(raw, limits{maxLabels: 8}); err != nil {
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		raw = marshal(t, known(&req))
		if want, wantRej, err = decodeV1Proto(raw, limits{maxLabels: 8}); err != nil {
			t.Fatal(err)
		}
	}
	got, gotRej, err := decodeV1Fast(raw, limits{maxLabels: 8})
	if err != nil {
		t.Fatalf("the generated decoder reads the body, decodeV1Fast fails: %v", err)
	}
	if len(got) != len(want) || len(gotRej) != len(wantRej) {
		t.Fatalf("%d series %d rejections, want %d and %d", len(got), len(gotRej), len(want), len(wantRej))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !labels.Equal(g.labels, w.labels) || g.typ != w.typ || g.help != w.help || len(g.samples) != len(w.samples) ||
			len(g.hists) != len(w.hists) || len(g.exemplars) != len(w.exemplars) {
			t.Fatalf("series %d: %v %q %d %d %d, want %v %q %d %d %d", i, g.labels, g.typ, len(g.samples), len(g.hists), len(g.exemplars),
				w.labels, w.typ, len(w.samples), len(w.hists), len(w.exemplars))
		}
		for j := range w.samples {
			if g.samples[j].t != w.samples[j].t || math.Float64bits(g.samples[j].v) != math.Float64bits(w.samples[j].v) {
				t.Fatalf("series %d sample %d: %v, want %v", i, j, g.samples[j], w.samples[j])
			}
		}
	}
	for i := range wantRej {
		if gotRej[i].reason != wantRej[i].reason || gotRej[i].samples != wantRej[i].samples {
			t.Fatalf("rejection %d: %s %d, want %s %d", i, gotRej[i].reason, gotRej[i].samples, wantRej[i].reason, wantRej[i].samples)
		}
	}
}

// TestFastDecoderMatchesGenerated: the real shapes decode the same both ways.
func TestFastDecoderMatchesGenerated(t *testing.T) {
	for i, req := range []*prompb.WriteRequest{realV1(), benchV1(300), {Metadata: realV1().Metadata}} {
		t.Run(fmt.Sprint(i), func(t *testing.T) { sameAsGenerated(t, marshal(t, req)) })
	}
	many := benchV1(1)
	many.Timeseries[0].Labels = append(many.Timeseries[0].Labels, prompb.Label{Name: "zz", Value: "1"}) // 11 > 8
	sameAsGenerated(t, marshal(t, many))
}

// known drops the unknown fields the generated decoder keeps (XXX_unrecognized), which it would
// otherwise write back as they came.
func known(req *prompb.WriteRequest) *prompb.WriteRequest {
	req.XXX_unrecognized = nil
	for i := range req.Metadata {
		req.Metadata[i].XXX_unrecognized = nil
	}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		ts.XXX_unrecognized = nil
		for j := range ts.Labels {
			ts.Labels[j].XXX_unrecognized = nil
		}
		for j := range ts.Samples {
			ts.Samples[j].XXX_unrecognized = nil
		}
		for j := range ts.Exemplars {
			ts.Exemplars[j].XXX_unrecognized = nil
			for k := range ts.Exemplars[j].Labels {
				ts.Exemplars[j].Labels[k].XXX_unrecognized = nil
			}
		}
		for j := range ts.Histograms {
			h := &ts.Histograms[j]
			h.XXX_unrecognized = nil
			for k := range h.PositiveSpans {
				h.PositiveSpans[k].XXX_unrecognized = nil
			}
			for k := range h.NegativeSpans {
				h.NegativeSpans[k].XXX_unrecognized = nil
			}
		}
	}
	return req
}
