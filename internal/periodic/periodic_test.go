package periodic

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestTasksRunAtTheirIntervalsAndStopRunsLastOnce(t *testing.T) {
	var fast, slow, last atomic.Int64
	var r Runner
	r.Start(
		Task{Every: 5 * time.Millisecond, Run: func(context.Context, time.Time) { fast.Add(1) }},
		Task{Every: 50 * time.Millisecond, Run: func(context.Context, time.Time) { slow.Add(1) }},
	)
	time.Sleep(230 * time.Millisecond)
	flush := func(context.Context) error { last.Add(1); return errors.New("last flush failed") }
	if err := r.Stop(context.Background(), flush); err == nil || err.Error() != "last flush failed" {
		t.Fatalf("Stop returned %v, want the last flush's error", err)
	}
	if err := r.Stop(context.Background(), flush); err != nil {
		t.Fatalf("second Stop returned %v", err)
	}
	f, s := fast.Load(), slow.Load()
	if f < 10 || s < 2 || s > 5 || f <= 3*s {
		t.Errorf("in 230ms: fast task ran %d times (every 5ms), slow %d (every 50ms)", f, s)
	}
	if last.Load() != 1 {
		t.Errorf("last ran %d times, want once", last.Load())
	}
	time.Sleep(20 * time.Millisecond)
	if fast.Load() != f {
		t.Error("a task ran after Stop returned")
	}
}

func TestStopBeforeStartDoesNothing(t *testing.T) {
	var r Runner
	called := false
	if err := r.Stop(context.Background(), func(context.Context) error { called = true; return nil }); err != nil || called {
		t.Fatalf("Stop before Start: err %v, last called %v", err, called)
	}
}

func TestStopGivesUpWhenTheRunUnderWayOutlastsTheContext(t *testing.T) {
	var r Runner
	release, started := make(chan struct{}), make(chan struct{}, 1)
	r.Start(Task{Every: time.Millisecond, Run: func(context.Context, time.Time) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	}})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	called := false
	err := r.Stop(ctx, func(context.Context) error { called = true; return nil })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || called {
		t.Fatalf("Stop while a run hangs: err %v, last called %v; want the deadline and no last run", err, called)
	}
}
