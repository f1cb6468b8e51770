package promrwexporter

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// bodyOf is the WriteRequest a queued request sends, decoded.
func bodyOf(t *testing.T, req xexporterhelper.Request) prompb.WriteRequest {
	t.Helper()
	r, ok := req.(*rwRequest)
	require.True(t, ok, "%T", req)
	raw, err := s2.Decode(nil, r.body)
	require.NoError(t, err)
	require.Len(t, raw, r.size)
	var wr prompb.WriteRequest
	require.NoError(t, wr.Unmarshal(raw))
	return wr
}

// TestQueuedRequestRoundTrip: the queue holds the request that translate makes, snappy
// compressed, byte for byte; it reads back the same (and what an earlier vigil queued, metrics as
// protobuf, becomes the same request); damage is an error, never a panic.
func TestQueuedRequestRoundTrip(t *testing.T) {
	for name, md := range shapes() {
		t.Run(name, func(t *testing.T) {
			e := newExporter(exportertest.NewNopSettings(Type), createDefaultConfig())
			want := requestOf(t, newExporter(exportertest.NewNopSettings(Type), createDefaultConfig()), md, false)
			in := pmetric.NewMetrics()
			md.CopyTo(in)
			req, err := e.toRequest(context.Background(), in)
			require.NoError(t, err)
			r := req.(*rwRequest)
			raw, err := s2.Decode(nil, r.body)
			require.NoError(t, err)
			require.Equal(t, want, raw)
			require.Equal(t, len(want), req.BytesSize())
			samples := 0
			for _, ts := range bodyOf(t, req).Timeseries {
				samples += len(ts.Samples) + len(ts.Histograms)
			}
			require.Equal(t, samples, req.ItemsCount())
			require.Positive(t, samples)

			enc := rwEncoding{e}
			b, err := enc.Marshal(context.Background(), req)
			require.NoError(t, err)
			_, back, err := enc.Unmarshal(append([]byte(nil), b...))
			require.NoError(t, err)
			require.Equal(t, r.body, back.(*rwRequest).body)
			require.Equal(t, req.ItemsCount(), back.ItemsCount())
			require.Equal(t, req.BytesSize(), back.BytesSize())

			for _, old := range [][]byte{
				must(t, func() ([]byte, error) { return pdatareq.MarshalMetrics(context.Background(), md) }),
				must(t, func() ([]byte, error) { return (&pmetric.ProtoMarshaler{}).MarshalMetrics(md) }),
			} {
				_, back, err := enc.Unmarshal(old)
				require.NoError(t, err)
				require.Equal(t, r.body, back.(*rwRequest).body)
			}

			for i := range len(b) {
				_, _, _ = enc.Unmarshal(b[:i])
			}
			_, _, err = enc.Unmarshal(nil)
			require.ErrorIs(t, err, errRWEncoding)
			_, _, err = enc.Unmarshal([]byte{rwEncodingVersion, 0x80})
			require.ErrorIs(t, err, errRWEncoding)
			_, _, err = enc.Unmarshal([]byte{rwEncodingVersion, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			require.ErrorIs(t, err, errRWEncoding)
		})
	}
}

func must(t testing.TB, f func() ([]byte, error)) []byte {
	t.Helper()
	b, err := f()
	require.NoError(t, err)
	return b
}

// TestMergeSplit: merged requests send every series of both, in order; split requests hold at
// most maxSize samples (or bytes), and together every sample in order, a long series cut in
// several.
func TestMergeSplit(t *testing.T) {
	e := newExporter(exportertest.NewNopSettings(Type), createDefaultConfig())
	mk := func(md pmetric.Metrics) xexporterhelper.Request {
		req, err := e.toRequest(context.Background(), md)
		require.NoError(t, err)
		return req
	}
	a, b := mk(shapes()["bench"]), mk(shapes()["names"])
	// long: one series of 40 samples, and its histogram counterpart.
	long := pmetric.NewMetrics()
	g := long.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("long")
	dps := g.SetEmptyGauge().DataPoints()
	for i := range 40 {
		p := dps.AppendEmpty()
		p.SetTimestamp(1_700_000_000_000_000_000 + pcommon.Timestamp(i)*1e9)
		p.SetDoubleValue(float64(i))
	}
	c := mk(long)

	type sample struct {
		series string
		v      uint64 // the value's bits (stale markers are NaN)
		t      int64
	}
	flatten := func(reqs ...xexporterhelper.Request) (out []sample) {
		for _, r := range reqs {
			for _, ts := range bodyOf(t, r).Timeseries {
				series := ""
				for _, l := range ts.Labels {
					series += l.Name + "=" + l.Value + ","
				}
				for _, s := range ts.Samples {
					out = append(out, sample{series, math.Float64bits(s.Value), s.Timestamp})
				}
			}
		}
		return out
	}

	merged, err := a.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, b)
	require.NoError(t, err)
	require.Len(t, merged, 1)
	rawOf := func(r xexporterhelper.Request) []byte {
		raw, err := s2.Decode(nil, r.(*rwRequest).body)
		require.NoError(t, err)
		return raw
	}
	require.Equal(t, append(rawOf(a), rawOf(b)...), rawOf(merged[0])) // the series of both, as they were
	require.Equal(t, len(bodyOf(t, a).Timeseries)+len(bodyOf(t, b).Timeseries), len(bodyOf(t, merged[0]).Timeseries))
	require.Equal(t, a.ItemsCount()+b.ItemsCount(), merged[0].ItemsCount())
	require.Equal(t, a.BytesSize()+b.BytesSize(), merged[0].BytesSize())

	for _, tc := range []struct {
		szt exporterhelper.RequestSizerType
		max int
	}{
		{exporterhelper.RequestSizerTypeItems, 7},
		{exporterhelper.RequestSizerTypeItems, 100},
		{exporterhelper.RequestSizerTypeBytes, 300},
		{exporterhelper.RequestSizerTypeBytes, 5000},
	} {
		t.Run(fmt.Sprintf("%v-%d", tc.szt, tc.max), func(t *testing.T) {
			for _, pair := range [][2]xexporterhelper.Request{{a, b}, {c, nil}, {a, c}} {
				parts, err := pair[0].MergeSplit(context.Background(), tc.max, tc.szt, pair[1])
				require.NoError(t, err)
				total := 0
				for _, r := range pair {
					if r != nil && tc.szt == exporterhelper.RequestSizerTypeBytes {
						total += r.BytesSize()
					} else if r != nil {
						total += r.ItemsCount()
					}
				}
				if total > tc.max {
					require.Greater(t, len(parts), 1)
				} else {
					require.Len(t, parts, 1)
				}
				want := flatten(pair[0])
				if pair[1] != nil {
					want = append(want, flatten(pair[1])...)
				}
				require.Equal(t, want, flatten(parts...))
				for _, p := range parts {
					size := p.ItemsCount()
					if tc.szt == exporterhelper.RequestSizerTypeBytes {
						size = p.BytesSize()
					}
					require.LessOrEqual(t, size, tc.max)
					n := 0
					for _, ts := range bodyOf(t, p).Timeseries {
						n += len(ts.Samples)
					}
					require.Equal(t, n, p.ItemsCount())
				}
			}
		})
	}
}

// FuzzRWEncoding: whatever the queue hands back, Unmarshal returns an error or a request whose
// encoding is the bytes it was read from, and merging or splitting it returns an error or
// requests, never a panic.
func FuzzRWEncoding(f *testing.F) {
	e := newExporter(exportertest.NewNopSettings(Type), createDefaultConfig())
	enc := rwEncoding{e}
	for _, md := range shapes() {
		req, err := e.toRequest(context.Background(), md)
		require.NoError(f, err)
		f.Add(must(f, func() ([]byte, error) { return enc.Marshal(context.Background(), req) }))
	}
	f.Add([]byte{rwEncodingVersion, 0})
	f.Add([]byte{rwEncodingVersion, 1, 0})
	f.Add(must(f, func() ([]byte, error) { return (&pmetric.ProtoMarshaler{}).MarshalMetrics(shapes()["bench"]) }))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = b[:len(b):len(b)]
		_, r, err := enc.Unmarshal(b)
		if err != nil {
			return
		}
		if b[0] == rwEncodingVersion {
			require.Equal(t, b, must(t, func() ([]byte, error) { return enc.Marshal(context.Background(), r) }))
		}
		for _, szt := range []exporterhelper.RequestSizerType{exporterhelper.RequestSizerTypeItems, exporterhelper.RequestSizerTypeBytes} {
			parts, err := r.MergeSplit(context.Background(), 3, szt, r)
			if err == nil {
				require.NotEmpty(t, parts)
			}
		}
	})
}
