// Package fifo is a durable first-in first-out queue of byte items kept in a collector
// storage.Client (the walstorage extension's): Put returns once an item is on disk (fsync),
// Next hands the oldest items to senders, and Done removes the ones delivered. Items not Done
// before a crash or a shutdown are delivered again, in order, after Open: delivery is at least
// once.
//
// The queue keeps in memory only the sequence number, size and time of each item (about 32
// bytes an item); the data stays in the storage and is read back by Next. It is bounded by the
// storage: walstorage's max_bytes refuses Put with a ResourceExhausted status once the log is
// full, and takes space back, a whole segment at a time, after enough items are Done. The keys
// and the recovery are described in storage/docs/fifo-format.md.
package fifo
