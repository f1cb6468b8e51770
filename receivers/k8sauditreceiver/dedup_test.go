package k8sauditreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/eventkey"
)

func ev(id, stage string) Event { return Event{AuditID: id, Stage: stage} }

func keysOf(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Key())
	}
	return out
}

func TestDedup(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	d := newDedup(10*time.Minute, 100, func() time.Time { return now })

	// Within one list: the second copy of a key goes; another stage of the same auditID stays.
	batch := []Event{ev("a", "ResponseStarted"), ev("a", "ResponseComplete"), ev("b", "x"), ev("a", "ResponseStarted"), ev("a/b", "c"), ev("a", "b/c")}
	kept, _, dups := d.filter(batch)
	require.Equal(t, []string{"a/ResponseStarted", "a/ResponseComplete", "b/x", "a/b/c"}, keysOf(kept),
		"keys are auditID/stage, as stored before: (a/b, c) and (a, b/c) are one key")
	require.Equal(t, 2, dups)

	// Nothing is remembered until the next stage accepted the batch.
	kept, keys, dups := d.filter(batch[:1])
	require.Len(t, kept, 1)
	require.Len(t, keys, 1)
	require.Zero(t, dups)
	d.remember(keys)

	kept, _, dups = d.filter([]Event{ev("a", "ResponseStarted"), ev("c", "x")})
	require.Equal(t, []string{"c/x"}, keysOf(kept))
	require.Equal(t, 1, dups)

	// Remembered for at least one window, forgotten after two.
	now = now.Add(15 * time.Minute)
	_, _, dups = d.filter([]Event{ev("a", "ResponseStarted")})
	require.Equal(t, 1, dups)
	now = now.Add(20 * time.Minute)
	_, _, dups = d.filter([]Event{ev("a", "ResponseStarted")})
	require.Zero(t, dups)
}

func BenchmarkDedup(b *testing.B) {
	events, _, err := Decode(benchBatch(), Limits{})
	require.NoError(b, err)
	d := newDedup(10*time.Minute, 1<<20, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		_, keys, _ := d.filter(events)
		d.remember(keys)
		d.cur, d.prev = map[eventkey.Key]struct{}{}, map[eventkey.Key]struct{}{}
	}
}
