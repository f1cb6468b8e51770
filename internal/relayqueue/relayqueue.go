// Package relayqueue lets a receiver put OTLP requests it encodes itself into the durable queue
// of an otlprelay receiver of the same collector, which forwards them to the gateway as they
// were queued (never decoded): the containerlogs receiver's `relay` setting. A relay registers
// its queue while it runs, under its component ID and the storage extension it queues in (the
// storage extension instance stands for the collector: two collectors in one process, as in
// tests, do not see each other's relays).
package relayqueue

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Logs is the durable logs queue of a running relay.
type Logs interface {
	// QueueLogs checks req (an OTLP ExportLogsServiceRequest, protobuf), stamps it as the relay
	// stamps its own requests (resource_attributes, pod_metadata), and puts it in the relay's
	// durable logs queue. It returns once the request is durable, or an error: the request was
	// not queued (or may not have been) and must be offered again. It is safe for concurrent use.
	QueueLogs(ctx context.Context, req []byte) error
}

type entry struct{ q Logs } // a pointer per registration: its identity

type key struct {
	storage component.Component
	id      component.ID
}

var (
	mu     sync.Mutex
	queues = map[key]*entry{}
)

// Register makes q the logs queue of relay id queueing in storage until the returned func is
// called.
func Register(storage component.Component, id component.ID, q Logs) (unregister func()) {
	k, e := key{storage, id}, &entry{q}
	mu.Lock()
	defer mu.Unlock()
	queues[k] = e
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if queues[k] == e {
			delete(queues, k)
		}
	}
}

// Find returns the logs queue of relay id queueing in storage, if it runs.
func Find(storage component.Component, id component.ID) (Logs, bool) {
	mu.Lock()
	defer mu.Unlock()
	if e, ok := queues[key{storage, id}]; ok {
		return e.q, true
	}
	return nil, false
}
