package alertexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
)

// A Replay evaluates at the times it is given: pending, then firing after `for`; what the rules
// write reaches Output; the store keeps only what the rules select.
func TestReplayEvaluatesAtGivenTimes(t *testing.T) {
	dir := t.TempDir()
	writeRuleFile(t, dir, "lag.yaml", `groups:
  - name: lag
    rules:
      - alert: LagHigh
        expr: lag_seconds > 30
        for: 2m
`)
	out := teststorage.New(t)
	r, err := NewReplay(ReplaySettings{RuleFiles: []string{filepath.Join(dir, "*.yaml")}, Output: out})
	require.NoError(t, err)
	defer r.Close()
	require.Empty(t, r.Skipped())
	lag := labels.FromStrings("__name__", "lag_seconds", "instance", "a")
	require.True(t, r.Wants(lag))
	require.False(t, r.Wants(labels.FromStrings("__name__", "other")))

	ar := r.Groups()[0].Rules()[0].(*rules.AlertingRule)
	states := []rules.AlertState{}
	for m := range 4 {
		ts := time.Unix(int64(m*60), 0)
		require.NoError(t, r.Append(lag, ts.UnixMilli(), 40))
		require.Empty(t, r.Eval(context.Background(), ts))
		as := ar.ActiveAlerts()
		require.Len(t, as, 1)
		states = append(states, as[0].State)
	}
	require.Equal(t, []rules.AlertState{rules.StatePending, rules.StatePending, rules.StateFiring, rules.StateFiring}, states)
	require.ErrorContains(t, r.Append(lag, 0, 1), "out of order")

	q, err := out.Querier(0, 240_000)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "ALERTS"))
	n := 0
	for ss.Next() {
		n++
	}
	require.Equal(t, 2, n, "ALERTS pending and firing reach Output")
}

// A group the core cannot evaluate is skipped and reported, the others are loaded.
func TestReplayReportsSkippedGroups(t *testing.T) {
	dir := t.TempDir()
	writeRuleFile(t, dir, "r.yaml", `groups:
  - name: pinned
    rules:
      - alert: Pinned
        expr: x @ 100 > 1
  - name: fine
    rules:
      - record: y
        expr: sum(x)
`)
	r, err := NewReplay(ReplaySettings{RuleFiles: []string{filepath.Join(dir, "r.yaml")}})
	require.NoError(t, err)
	defer r.Close()
	require.Len(t, r.Groups(), 1)
	require.Equal(t, "fine", r.Groups()[0].Name())
	require.Len(t, r.Skipped(), 1)
	require.ErrorContains(t, r.Skipped()[0], `group "pinned", rule 1, "Pinned": cannot keep the samples of x @ 100.000`)
}
