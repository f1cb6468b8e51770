package series

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// selectSamples returns the samples of the series named name that a querier over [mint, maxt]
// returns, read with Next (and, when seekTo is set, starting with Seek(seekTo)).
func selectSamples(t *testing.T, s *Store, name string, mint, maxt int64, seekTo *int64) []sample {
	t.Helper()
	q, err := s.Querier(mint, maxt)
	require.NoError(t, err)
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
	var out []sample
	for ss.Next() {
		it := ss.At().Iterator(nil)
		var vt chunkenc.ValueType
		if seekTo != nil {
			vt = it.Seek(*seekTo)
		} else {
			vt = it.Next()
		}
		for ; vt == chunkenc.ValFloat; vt = it.Next() {
			ts, f := it.At()
			require.Equal(t, ts, it.AtT())
			out = append(out, sample{ts, f})
		}
		require.NoError(t, it.Err())
		require.Equal(t, chunkenc.ValNone, it.Next(), "an exhausted iterator stays exhausted")
	}
	require.False(t, ss.Next())
	return out
}

// want is what the store must expose: the samples in [max(mint, newest-window), maxt].
func want(all []sample, window time.Duration, mint, maxt int64) []sample {
	var out []sample
	if len(all) == 0 {
		return nil
	}
	mint = max(mint, all[len(all)-1].t-window.Milliseconds())
	for _, x := range all {
		if x.t >= mint && x.t <= maxt {
			out = append(out, x)
		}
	}
	return out
}

func sameSamples(t *testing.T, want, got []sample, msg string) {
	t.Helper()
	require.Equal(t, len(want), len(got), msg)
	for i := range want {
		require.Equal(t, want[i].t, got[i].t, "%s: sample %d", msg, i)
		require.Equal(t, math.Float64bits(want[i].f), math.Float64bits(got[i].f), "%s: sample %d at %d", msg, i, want[i].t)
	}
}

// TestChunksKeepExactlyTheWindow appends series of several windows and intervals, over many
// chunks, and checks after every few samples that queries over any range see exactly the samples
// in the window (Next and Seek), and that the store holds no more than the window and one chunk.
func TestChunksKeepExactlyTheWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		expr     string
		window   time.Duration
		interval int64 // ms
		jitter   int64
	}{
		{"rate(x[1m])", time.Minute, 15_000, 0},
		{"x", 5 * time.Minute, 15_000, 2000},
		{"max_over_time(x[10m])", 10 * time.Minute, 60_000, 0},
		{"predict_linear(x[6h], 3600)", 6 * time.Hour, 15_000, 500},
		{"avg_over_time(x[2m])", 2 * time.Minute, 1000, 300},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			s := storeFor(t, 10, nil, c.expr)
			a := s.NewAppender()
			l := labels.FromStrings("__name__", "x")
			var all []sample
			ts, v := t0, 1e9
			n := int(3*c.window.Milliseconds()/c.interval) + 3*maxChunkSamples
			for i := range n {
				ts += c.interval + r.Int64N(2*c.jitter+1) - c.jitter
				switch r.IntN(10) {
				case 0:
					v -= float64(r.IntN(64)+1) * 4096
				case 1:
					v = math.Float64frombits(value.StaleNaN)
				case 2:
					v = r.NormFloat64()
				}
				mustAppend(t, a, l, ts, v)
				all = append(all, sample{ts, v})
				if value.IsStaleNaN(v) {
					v = 1e9
				}
				if i%97 != 0 && i != n-1 {
					continue
				}
				held := s.Stats().Samples
				require.Equal(t, countHeld(s), held, "Stats().Samples is kept up to date")
				inWindow := len(want(all, c.window, math.MinInt64, math.MaxInt64))
				require.GreaterOrEqual(t, held, inWindow)
				// At most one chunk beyond the window: a quarter of it, or maxChunkSamples.
				bound := inWindow + max(minChunkSamples, int(c.window.Milliseconds()/4/(c.interval-c.jitter))+2)
				require.LessOrEqual(t, held, min(bound, inWindow+maxChunkSamples), "held samples")
				sameSamples(t, want(all, c.window, math.MinInt64, math.MaxInt64), selectSamples(t, s, "x", math.MinInt64, math.MaxInt64, nil), "whole range")
				for range 5 {
					lo := ts - r.Int64N(c.window.Milliseconds()*3/2+1)
					hi := lo + r.Int64N(c.window.Milliseconds()+1)
					sameSamples(t, want(all, c.window, lo, hi), selectSamples(t, s, "x", lo, hi, nil), fmt.Sprintf("[%d, %d]", lo, hi))
					seek := lo + r.Int64N(hi-lo+1)
					sameSamples(t, want(all, c.window, seek, hi), selectSamples(t, s, "x", lo, hi, &seek), fmt.Sprintf("[%d, %d] seek %d", lo, hi, seek))
				}
			}
		})
	}
}

// TestChunksOutOfOrderAndDuplicates checks the order rules at chunk boundaries: the newest sample
// decides, whichever chunk holds it.
func TestChunksOutOfOrderAndDuplicates(t *testing.T) {
	s := storeFor(t, 10, nil, "rate(x[1m])") // 1m window: a chunk is cut every 8 samples
	a := s.NewAppender()
	l := labels.FromStrings("__name__", "x")
	var all []sample
	for i := range int64(3 * minChunkSamples) {
		ts := t0 + i*15_000
		mustAppend(t, a, l, ts, float64(i))
		all = append(all, sample{ts, float64(i)})
		// Right after a cut (and everywhere else): older is refused, the same sample again is
		// accepted and not stored twice, another value at the same time is refused.
		_, err := a.Append(0, l, ts-1, 0)
		require.ErrorIs(t, err, storage.ErrOutOfOrderSample)
		_, err = a.Append(0, l, ts-15_000, 0)
		require.ErrorIs(t, err, storage.ErrOutOfOrderSample)
		mustAppend(t, a, l, ts, float64(i))
		_, err = a.Append(0, l, ts, float64(i)+0.5)
		require.ErrorIs(t, err, storage.ErrDuplicateSampleForTimestamp)
	}
	st := s.Stats()
	require.Equal(t, int64(3*minChunkSamples), st.Appended)
	require.Equal(t, int64(2*3*minChunkSamples), st.OutOfOrder)
	require.Equal(t, int64(3*minChunkSamples), st.Duplicate)
	sameSamples(t, want(all, time.Minute, math.MinInt64, math.MaxInt64), selectSamples(t, s, "x", math.MinInt64, math.MaxInt64, nil), "after refusals")

	// Staleness markers: a second marker at the same time is the same sample; a value after a
	// marker at its time is a duplicate with another value.
	ts := all[len(all)-1].t + 15_000
	stale := math.Float64frombits(value.StaleNaN)
	mustAppend(t, a, l, ts, stale)
	mustAppend(t, a, l, ts, stale)
	_, err := a.Append(0, l, ts, 1)
	require.ErrorIs(t, err, storage.ErrDuplicateSampleForTimestamp)
	got := selectSamples(t, s, "x", ts, ts, nil)
	require.Len(t, got, 1)
	require.True(t, value.IsStaleNaN(got[0].f), "the marker keeps its exact bits")
}

// TestSetNeedsChangesChunkWindows shrinks and grows the window of a series that holds chunks.
func TestSetNeedsChangesChunkWindows(t *testing.T) {
	s := storeFor(t, 10, nil, "max_over_time(x[1h])")
	a := s.NewAppender()
	l := labels.FromStrings("__name__", "x")
	var all []sample
	add := func(n int) {
		for range n {
			ts := t0 + int64(len(all))*minute
			mustAppend(t, a, l, ts, float64(len(all)))
			all = append(all, sample{ts, float64(len(all))})
		}
	}
	whole := func() []sample { return selectSamples(t, s, "x", math.MinInt64, math.MaxInt64, nil) }
	replan := func(expr string) {
		t.Helper()
		e, err := parseNeeds(expr)
		require.NoError(t, err)
		require.Equal(t, 0, s.SetNeeds(e))
	}
	add(180)
	sameSamples(t, want(all, time.Hour, math.MinInt64, math.MaxInt64), whole(), "1h")
	heldBefore := s.Stats().Samples

	// Shrunk: the new window applies to queries at once, and chunks are dropped at the next sample.
	replan("max_over_time(x[10m])")
	sameSamples(t, want(all, 10*time.Minute, math.MinInt64, math.MaxInt64), whole(), "shrunk to 10m")
	add(1)
	require.Less(t, s.Stats().Samples, heldBefore/2)
	sameSamples(t, want(all, 10*time.Minute, math.MinInt64, math.MaxInt64), whole(), "10m after a sample")

	// Grown: what is still held becomes visible (never samples that were not appended), and the
	// window fills as samples arrive.
	replan("max_over_time(x[30m])")
	got := whole()
	require.GreaterOrEqual(t, len(got), 11)
	sameSamples(t, all[len(all)-len(got):], got, "grown to 30m: a suffix of what was appended")
	add(40)
	require.Equal(t, countHeld(s), s.Stats().Samples)
	sameSamples(t, want(all, 30*time.Minute, math.MinInt64, math.MaxInt64), whole(), "30m, filled")
	require.Equal(t, 31.0, instant(t, s, "count_over_time(x[2h])", all[len(all)-1].t)[0].F)
}

// TestGCTrimsChunks checks that GC drops chunks outside the window before now, and the series
// when its newest sample is.
func TestGCTrimsChunks(t *testing.T) {
	s := storeFor(t, 10, nil, "max_over_time(x[10m])")
	a := s.NewAppender()
	l := labels.FromStrings("__name__", "x")
	for i := range int64(60) {
		mustAppend(t, a, l, t0+i*minute, float64(i))
	}
	held := s.Stats().Samples
	// Chunks of 8 samples at 1m: 48m..55m is closed, 56m..59m is the head.
	require.Equal(t, 12, held)
	require.Equal(t, 0, s.GC(t0+65*minute))
	require.Equal(t, held, s.Stats().Samples, "55m is inside the window before 65m")
	require.Equal(t, 0, s.GC(t0+66*minute))
	require.Equal(t, 4, s.Stats().Samples)
	require.Equal(t, 4, countHeld(s))
	// Range selectors are left-open: (56m, 66m] holds 57m..59m.
	require.Equal(t, 3.0, instant(t, s, "count_over_time(x[10m])", t0+66*minute)[0].F)
	require.Equal(t, 1, s.GC(t0+69*minute+1))
	require.Equal(t, 0, s.Stats().Samples)
}

// countHeld counts the samples of every chunk of every series.
func countHeld(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	s.each(func(ms *memSeries) { n += ms.samples() })
	return n
}

func parseNeeds(expr string) ([]Need, error) {
	e, err := rulefiles.Parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	return NeedsOf(e, 5*time.Minute, 0, 0)
}

// FuzzSeriesRoundTrip appends arbitrary samples to a series (timestamp deltas of every
// delta-of-delta width of the XOR encoding, values of every bit pattern, chunks cut and trimmed
// by the window) and checks that a snapshot reads back exactly the samples in the window, and
// that the samples counted as dropped and held add up.
func FuzzSeriesRoundTrip(f *testing.F) {
	f.Add(int64(0), uint64(0), uint32(60_000), []byte{1, 2, 3})
	f.Add(int64(math.MinInt64/2), math.Float64bits(math.NaN()), uint32(1), []byte{255, 0, 128})
	f.Add(int64(1_700_000_000_000), math.Float64bits(1e9), uint32(6*3600_000), bytes.Repeat([]byte{24, 25, 24, 0, 255}, 400))
	f.Fuzz(func(t *testing.T, t0 int64, v0 uint64, window uint32, steps []byte) {
		if len(steps) > 3000 {
			steps = steps[:3000]
		}
		ms := newMemSeries(labels.FromStrings("__name__", "x"), &needSet{window: int64(window)})
		var all []sample
		held := 0
		ts, v := t0, v0
		for i, s := range steps {
			if i > 0 {
				d := int64(s) * int64(s) * int64(s) // up to 2^24: every delta-of-delta width
				if ts > math.MaxInt64/4-d {
					break
				}
				ts += d + 1
				v ^= uint64(s) << (s % 64)
			}
			held += 1 - ms.add(ts, math.Float64frombits(v))
			all = append(all, sample{ts, math.Float64frombits(v)})
		}
		if len(all) == 0 {
			return
		}
		if got := ms.samples(); got != held {
			t.Fatalf("series holds %d samples, %d counted", got, held)
		}
		var got []sample
		if snap := ms.snapshot(math.MinInt64, math.MaxInt64); snap != nil {
			it := snap.Iterator(nil)
			for it.Next() == chunkenc.ValFloat {
				gt, gf := it.At()
				got = append(got, sample{gt, gf})
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
		}
		exp := want(all, time.Duration(window)*time.Millisecond, math.MinInt64, math.MaxInt64)
		if len(got) != len(exp) {
			t.Fatalf("got %d samples, want %d", len(got), len(exp))
		}
		if held < len(exp) {
			t.Fatalf("series holds %d samples, fewer than the %d in its window", held, len(exp))
		}
		for i := range exp {
			if got[i].t != exp[i].t || math.Float64bits(got[i].f) != math.Float64bits(exp[i].f) {
				t.Fatalf("sample %d: got (%d, %x), want (%d, %x)", i, got[i].t, math.Float64bits(got[i].f), exp[i].t, math.Float64bits(exp[i].f))
			}
		}
	})
}
