// Package periodic runs a component's timed work (flushes, expiry) on one goroutine, and stops it
// at Shutdown with one last run, as the connectors that aggregate spans into metrics need.
package periodic

import (
	"context"
	"sync"
	"time"
)

// Task is work run every Every, with the time it was due.
type Task struct {
	Every time.Duration
	Run   func(ctx context.Context, now time.Time)
}

// Runner runs its tasks from Start until Stop. The zero value is ready; one Runner runs once.
type Runner struct {
	cancel  context.CancelFunc
	done    chan struct{}
	stopped sync.Once
}

// Start runs every task at its interval, one at a time, on one goroutine. A task that overruns
// is not run twice to catch up: its next run is one interval after it was due, or now if that
// has passed too.
func (r *Runner) Start(tasks ...Task) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx, tasks)
}

func (r *Runner) run(ctx context.Context, tasks []Task) {
	defer close(r.done)
	if len(tasks) == 0 {
		<-ctx.Done()
		return
	}
	start := time.Now()
	next := make([]time.Time, len(tasks))
	for i, t := range tasks {
		next[i] = start.Add(t.Every)
	}
	timer := time.NewTimer(time.Until(earliest(next)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-timer.C:
			for i, t := range tasks {
				if now.Before(next[i]) {
					continue
				}
				t.Run(ctx, now)
				if next[i] = next[i].Add(t.Every); !next[i].After(now) {
					next[i] = now.Add(t.Every)
				}
			}
			timer.Reset(time.Until(earliest(next)))
		}
	}
}

func earliest(ts []time.Time) time.Time {
	e := ts[0]
	for _, t := range ts[1:] {
		if t.Before(e) {
			e = t
		}
	}
	return e
}

// Stop ends the runs, waits for the one under way, then calls last (a final flush) and returns
// its error. It does nothing after the first call or before Start (last is not called then); if
// ctx ends before the run under way does, it returns ctx's error without calling last.
func (r *Runner) Stop(ctx context.Context, last func(context.Context) error) error {
	var err error
	r.stopped.Do(func() {
		if r.cancel == nil {
			return
		}
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		if last != nil {
			err = last(ctx)
		}
	})
	return err
}
