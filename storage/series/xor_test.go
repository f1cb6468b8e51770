package series

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

// TestXORHeadWritesChunkencBytes checks that xorHead writes byte for byte what chunkenc's XOR
// appender writes, over timestamps with every delta-of-delta width and values of every kind.
func TestXORHeadWritesChunkencBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		want := chunkenc.NewXORChunk()
		app, err := want.Appender()
		require.NoError(t, err)
		var h xorHead
		h.reset(nil)
		ts, v := r.Int64N(1<<42)-1<<41, 0.0
		prevT, prevV := int64(0), 0.0
		n := 1 + r.IntN(300)
		for i := range n {
			switch r.IntN(6) {
			case 0:
				ts += 15_000
			case 1:
				ts += 1 + r.Int64N(1<<13)
			case 2:
				ts += 1 + r.Int64N(1<<19)
			case 3:
				ts += 1 + r.Int64N(1<<40)
			default:
				ts += 15_000 + r.Int64N(5) - 2
			}
			switch r.IntN(7) {
			case 0: // unchanged
			case 1:
				v = math.Float64frombits(value.StaleNaN)
			case 2:
				v = math.NaN()
			case 3:
				v = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
			case 4:
				v = math.Inf(1 - 2*r.IntN(2))
			default:
				v = math.Round(v) + float64(r.IntN(100))
			}
			app.Append(0, ts, v)
			h.append(ts, v, prevT, prevV)
			prevT, prevV = ts, v
			require.Equal(t, want.Bytes(), h.b, "round %d, sample %d", round, i)
		}
		require.Equal(t, n, h.samples())
		// And chunkenc reads it back.
		c, err := chunkenc.FromData(chunkenc.EncXOR, h.b)
		require.NoError(t, err)
		require.Equal(t, n, c.NumSamples())
	}
}

// FuzzXORHead appends arbitrary samples and checks that chunkenc reads back exactly them.
func FuzzXORHead(f *testing.F) {
	f.Add(int64(0), uint64(0), []byte{1, 2, 3})
	f.Add(int64(math.MinInt64/2), math.Float64bits(math.NaN()), []byte{255, 0, 128})
	f.Fuzz(func(t *testing.T, t0 int64, v0 uint64, steps []byte) {
		if len(steps) > 2000 {
			steps = steps[:2000]
		}
		var h xorHead
		h.reset(nil)
		type smp struct {
			t int64
			v uint64
		}
		var all []smp
		ts, v := t0, v0
		for i, s := range steps {
			if i > 0 {
				d := int64(s) * int64(s) * int64(s) // up to 2^24: every dod width
				if ts > math.MaxInt64/4-d {
					break
				}
				ts += d + 1
				v ^= uint64(s) << (s % 64)
			}
			prev := smp{math.MinInt64, 0}
			if len(all) > 0 {
				prev = all[len(all)-1]
			}
			h.append(ts, math.Float64frombits(v), prev.t, math.Float64frombits(prev.v))
			all = append(all, smp{ts, v})
		}
		c, err := chunkenc.FromData(chunkenc.EncXOR, h.b)
		if err != nil {
			t.Fatal(err)
		}
		it := c.Iterator(nil)
		for i, want := range all {
			if it.Next() != chunkenc.ValFloat {
				t.Fatalf("sample %d missing: %v", i, it.Err())
			}
			gt, gv := it.At()
			if gt != want.t || math.Float64bits(gv) != want.v {
				t.Fatalf("sample %d: got (%d, %x), want (%d, %x)", i, gt, math.Float64bits(gv), want.t, want.v)
			}
		}
		if it.Next() != chunkenc.ValNone {
			t.Fatal("extra samples")
		}
	})
}
