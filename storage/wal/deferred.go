package wal

import (
	"context"
	"sync"
)

// Deferred collects the durability waits of writes made on behalf of one request, so that the
// component that answers the request waits once, after all of them, instead of every writer
// waiting for its own fsync in turn — and, above all, instead of a writer waiting while it holds
// its own lock (the collector's persistent queue holds its lock through each write).
//
// A writer honours it only where it writes through a Log (the walstorage extension's queue
// clients); every other writer still waits before returning, so the answer stays correct with
// any storage. Batches are durable in the order they were enqueued: waiting for all of them
// costs one fsync.
type Deferred struct {
	mu      sync.Mutex
	pending []func(context.Context) error
}

type deferredKey struct{}

// WithDeferred returns a context that carries a new Deferred, and the Deferred. The caller must
// call Wait before it acknowledges anything written with the context.
func WithDeferred(ctx context.Context) (context.Context, *Deferred) {
	d := &Deferred{}
	return context.WithValue(ctx, deferredKey{}, d), d
}

// DeferredFrom returns the Deferred of ctx, or nil.
func DeferredFrom(ctx context.Context) *Deferred {
	d, _ := ctx.Value(deferredKey{}).(*Deferred)
	return d
}

// Add hands the wait of an enqueued batch to the Deferred.
func (d *Deferred) Add(p Pending) { d.AddWait(p.Wait) }

// AddWait hands a wait for durability (such as walstorage's Enqueue returns) to the Deferred.
func (d *Deferred) AddWait(wait func(context.Context) error) {
	d.mu.Lock()
	d.pending = append(d.pending, wait)
	d.mu.Unlock()
}

// Wait blocks until every batch handed to the Deferred is durable, and returns the first error.
// It calls every wait, also after one failed: a writer may learn the outcome of its own write
// through its wait (the archive exporter forgets the events of a failed staging write).
func (d *Deferred) Wait(ctx context.Context) error {
	d.mu.Lock()
	pending := d.pending
	d.pending = nil
	d.mu.Unlock()
	var first error
	for _, wait := range pending {
		if err := wait(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Len is the number of waits the Deferred holds.
func (d *Deferred) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}
