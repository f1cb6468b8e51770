package series

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

func TestNeedsOfWindows(t *testing.T) {
	const lookback = 5 * time.Minute
	tests := []struct {
		expr        string
		queryOffset time.Duration
		want        map[string]time.Duration // selector name -> window
	}{
		{"up == 0", 0, map[string]time.Duration{"up": lookback}},
		{"rate(http_requests_total[5m])", 0, map[string]time.Duration{"http_requests_total": 5 * time.Minute}},
		{"rate(x[5m] offset 10m) > y offset 1h", 0, map[string]time.Duration{"x": 15 * time.Minute, "y": time.Hour + lookback}},
		{"predict_linear(node_filesystem_avail_bytes[6h], 86400) < 0", 0, map[string]time.Duration{"node_filesystem_avail_bytes": 6 * time.Hour}},
		{"max_over_time(rate(c[2m])[30m:1m] offset 5m)", 0, map[string]time.Duration{"c": 37 * time.Minute}},
		{"absent(a) unless b", 30 * time.Second, map[string]time.Duration{"a": lookback + 30*time.Second, "b": lookback + 30*time.Second}},
		{"x @ end()", 0, map[string]time.Duration{"x": lookback}},
		{"x offset -5m", 0, map[string]time.Duration{"x": lookback}},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := rulefiles.Parser.ParseExpr(tc.expr)
			require.NoError(t, err)
			needs, err := NeedsOf(e, lookback, tc.queryOffset, 7)
			require.NoError(t, err)
			got := map[string]time.Duration{}
			for _, n := range needs {
				name, ok := metricName(n.Matchers)
				require.True(t, ok)
				require.Equal(t, 7, n.Owner)
				got[name] = max(got[name], n.Window)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNeedsOfRejectsFixedAt(t *testing.T) {
	for _, expr := range []string{"x @ 1700000000", "max_over_time(x[5m:1m] @ 1700000000)"} {
		e, err := rulefiles.Parser.ParseExpr(expr)
		require.NoError(t, err)
		_, err = NeedsOf(e, 5*time.Minute, 0, 0)
		require.ErrorContains(t, err, "the @ modifier with a fixed time reads outside the streaming window", expr)
	}
}
