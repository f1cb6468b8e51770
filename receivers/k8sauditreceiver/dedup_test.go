package k8sauditreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audit"
)

// ev is an event whose content is its identity and a request URI.
func ev(id, stage string, uri ...string) Event {
	raw := `{"auditID":"` + id + `","stage":"` + stage + `"`
	for _, u := range uri {
		raw += `,"requestURI":"` + u + `"`
	}
	return Event{AuditID: id, Stage: stage, Raw: []byte(raw + "}")}
}

func keysOf(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, string(e.Raw))
	}
	return out
}

func TestDedup(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	d := newDedup(10*time.Minute, 100, func() time.Time { return now })

	// Within one list: the second copy of an event goes; another stage of the same auditID stays,
	// and so do other contents with the same auditID and stage.
	batch := []Event{ev("a", "ResponseStarted"), ev("a", "ResponseComplete"), ev("b", "x"), ev("a", "ResponseStarted"),
		ev("a/b", "c"), ev("a", "b/c"), ev("a", "ResponseStarted", "/api/v1/pods"), ev("a", "ResponseStarted", "/api/v1/pods")}
	kept, _, dups := d.filter(ctx, "c1", batch)
	require.Equal(t, keysOf([]Event{ev("a", "ResponseStarted"), ev("a", "ResponseComplete"), ev("b", "x"), ev("a/b", "c"),
		ev("a", "b/c"), ev("a", "ResponseStarted", "/api/v1/pods")}), keysOf(kept))
	require.Equal(t, 2, dups)

	// Nothing is remembered until the next stage accepted the batch.
	kept, keys, dups := d.filter(ctx, "c1", batch[:1])
	require.Len(t, kept, 1)
	require.Len(t, keys, 1)
	require.Zero(t, dups)
	d.remember(keys)
	kept, keys, _ = d.filter(ctx, "c1", []Event{ev("a", "ResponseStarted", "/other")})
	require.Len(t, kept, 1)
	d.remember(keys)

	kept, _, dups = d.filter(ctx, "c1", []Event{ev("a", "ResponseStarted"), ev("c", "x"), ev("a", "ResponseStarted", "/other")})
	require.Equal(t, keysOf([]Event{ev("c", "x")}), keysOf(kept))
	require.Equal(t, 2, dups)
	kept, _, dups = d.filter(ctx, "c2", []Event{ev("a", "ResponseStarted")})
	require.Len(t, kept, 1, "another cluster's event is another event")
	require.Zero(t, dups)

	// Remembered for at least one window, forgotten after two; the second content under one
	// (auditID, stage) also once the first is forgotten.
	now = now.Add(15 * time.Minute)
	_, _, dups = d.filter(ctx, "c1", []Event{ev("a", "ResponseStarted"), ev("a", "ResponseStarted", "/other")})
	require.Equal(t, 2, dups)
	d.cur[d.keys.Bytes(appendIdentity(nil, "c1", &batch[0]))] = 0 // as if another content took the key
	delete(d.prev, d.keys.Bytes(appendIdentity(nil, "c1", &batch[0])))
	_, _, dups = d.filter(ctx, "c1", []Event{ev("a", "ResponseStarted", "/other")})
	require.Equal(t, 1, dups)
	now = now.Add(20 * time.Minute)
	_, _, dups = d.filter(ctx, "c1", []Event{ev("a", "ResponseStarted")})
	require.Zero(t, dups)
}

// Two requests in flight at once with events of one (auditID, stage) and different contents:
// both pass, and both are found when sent again.
func TestDedupConcurrentContents(t *testing.T) {
	ctx := context.Background()
	d := newDedup(10*time.Minute, 100, time.Now)
	a, b := ev("a", "ResponseComplete", "/one"), ev("a", "ResponseComplete", "/two")
	_, keysA, _ := d.filter(ctx, "c1", []Event{a})
	_, keysB, _ := d.filter(ctx, "c1", []Event{b})
	d.remember(keysA)
	d.remember(keysB)
	_, _, dups := d.filter(ctx, "c1", []Event{a, b})
	require.Equal(t, 2, dups)
}

func BenchmarkDedup(b *testing.B) {
	events, _, err := Decode(benchBatch(), Limits{})
	require.NoError(b, err)
	d := newDedup(10*time.Minute, 1<<20, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		_, keys, _ := d.filter(context.Background(), "prod-eu-1", events)
		d.remember(keys)
		d.cur, d.prev = map[audit.Key]uint64{}, map[audit.Key]uint64{}
	}
}
