package seriesload

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

func TestWorkloadShapeAndDeterminism(t *testing.T) {
	a, err := New(Config{Series: 5000})
	require.NoError(t, err)
	require.Len(t, a.Rules, 1000)
	require.Len(t, a.Series, 5000)
	for _, r := range a.Rules {
		_, err := rulefiles.Parser.ParseExpr(r)
		require.NoError(t, err, r)
	}
	six := 0
	for _, s := range a.Series {
		if s.Window == 6*time.Hour {
			six++
		}
	}
	require.Equal(t, 100, six, "2% capacity series")

	b, err := New(Config{Series: 5000})
	require.NoError(t, err)
	type smp struct {
		i int
		t int64
		v float64
	}
	collect := func(w *Workload) []smp {
		var out []smp
		stop := errors.New("stop")
		err := w.Run(1_767_225_600_000, 1, func(i int, ts int64, v float64) error {
			if len(out) == 20_000 {
				return stop
			}
			out = append(out, smp{i, ts, v})
			return nil
		})
		require.ErrorIs(t, err, stop)
		return out
	}
	sa, sb := collect(a), collect(b)
	require.Equal(t, sa, sb)
	// Per series, timestamps advance by the interval.
	last := map[int]int64{}
	for _, x := range sa {
		if p, ok := last[x.i]; ok {
			require.Equal(t, p+a.Interval, x.t)
		}
		last[x.i] = x.t
	}

	_, err = New(Config{Series: 5000, Rules: 5})
	require.Error(t, err)
}
