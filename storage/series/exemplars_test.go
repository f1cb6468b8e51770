package series

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func ex(trace string, ts int64) exemplar.Exemplar {
	l := labels.EmptyLabels()
	if trace != "" {
		l = labels.FromStrings(TraceIDLabel, trace, "span_id", "00f067aa0ba902b7")
	}
	return exemplar.Exemplar{Labels: l, Ts: ts, Value: float64(ts), HasTs: true}
}

// A held series keeps its 3 newest exemplars with a trace ID, one per trace; a series no rule
// needs keeps none; Exemplars selects by matchers and by keep, newest first.
func TestExemplarsKeptPerSeries(t *testing.T) {
	s := storeFor(t, 10, nil, `rate(http_requests_total[5m]) > 1`)
	a := s.NewAppender()
	pod1 := labels.FromStrings("__name__", "http_requests_total", "pod", "p1")
	pod2 := labels.FromStrings("__name__", "http_requests_total", "pod", "p2")
	other := labels.FromStrings("__name__", "not_needed", "pod", "p1")
	for i, l := range []labels.Labels{pod1, pod2, other} {
		mustAppend(t, a, l, 1000, float64(i))
	}
	for i := range 5 {
		_, err := a.AppendExemplar(0, pod1, ex(fmt.Sprintf("trace-%d", i), int64(1000+i)))
		require.NoError(t, err)
	}
	_, err := a.AppendExemplar(0, pod1, ex("trace-3", 2000)) // again: moves, is not added twice
	require.NoError(t, err)
	_, err = a.AppendExemplar(0, pod1, ex("", 3000)) // no trace ID: dropped
	require.NoError(t, err)
	_, err = a.AppendExemplar(0, pod2, ex("trace-p2", 1500))
	require.NoError(t, err)
	_, err = a.AppendExemplar(0, other, ex("trace-other", 1500))
	require.NoError(t, err)

	name := labels.MustNewMatcher(labels.MatchEqual, "__name__", "http_requests_total")
	traces := func(keep func(labels.Labels) bool, limit int, ms ...*labels.Matcher) []string {
		var out []string
		for _, e := range s.Exemplars(ms, keep, limit) {
			out = append(out, e.TraceID)
		}
		return out
	}
	require.Equal(t, []string{"trace-3", "trace-p2", "trace-4", "trace-2"}, traces(nil, 10, name))
	require.Equal(t, []string{"trace-3", "trace-4", "trace-2"}, traces(func(l labels.Labels) bool { return l.Get("pod") == "p1" }, 10, name),
		"the 3 newest of p1: trace-0 and trace-1 were pushed out")
	require.Equal(t, []string{"trace-3"}, traces(nil, 1, name))
	require.Empty(t, traces(nil, 10, labels.MustNewMatcher(labels.MatchEqual, "__name__", "not_needed")), "a series not held keeps none")
}
