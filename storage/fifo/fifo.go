package fifo

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ErrClosed is returned by Put and Next after Close.
var ErrClosed = errors.New("queue is closed")

// Store is the storage client the queue needs: a storage.Client with the walstorage extension's
// ordered writes and partial reads. The walstorage extension's client implements it; other
// storage extensions' clients do not.
type Store interface {
	storage.Client
	// Enqueue hands writes to the storage as one atomic batch and returns at once: batches
	// become durable in the order they were enqueued, and wait blocks until the batch is.
	Enqueue(ops ...*storage.Operation) (wait func(context.Context) error, err error)
	// GetAppend is Get that appends the value of key to dst; ok reports whether key is set.
	GetAppend(dst []byte, key string) (_ []byte, ok bool, _ error)
	// GetPrefix reads at most n bytes of the start of key's value, and the value's size,
	// without reading the rest; ok reports whether key is set.
	GetPrefix(key string, n int) (prefix []byte, size int, ok bool, err error)
}

// Item is one item of the queue.
type Item struct {
	// Seq is the item's sequence number: items are handed out in increasing Seq.
	Seq uint64
	// Data is what Put stored; the slice is the caller's.
	Data []byte
	// Added is when Put accepted the item (kept in the storage: it survives restarts).
	Added time.Time
}

// Keys of the queue in its storage client (see storage/docs/fifo-format.md).
const (
	writeKey   = "w" // the next sequence number to assign
	readKey    = "r" // the lowest sequence number not Done
	itemPrefix = "i/"
	headerLen  = 8 // an item's value: Added as unix nanoseconds, big endian, then the data
)

func itemKey(seq uint64) string {
	var b [len(itemPrefix) + 16]byte
	copy(b[:], itemPrefix)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	hex.Encode(b[len(itemPrefix):], n[:]) // as %016x
	return string(b[:])
}

func position(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// entry is what the queue keeps in memory of an item.
type entry struct {
	seq   uint64
	size  int
	added int64 // unix nanoseconds
	out   bool  // handed out by Next
	done  bool  // Done, or lost by a failed write
}

// Queue is a durable FIFO queue over a storage client. All methods are safe for concurrent use.
type Queue struct {
	store Store

	mu      sync.Mutex
	entries []entry // not Done (except holes), increasing seq; entries[0] is not done
	holes   int     // done entries in entries
	next    int     // entries before next are all out or done
	w       uint64  // next seq to assign
	r       uint64  // read position last written
	durable uint64  // every seq below it is durable: Next hands out only those
	bytes   int64
	closed  bool
	wake    chan struct{} // closed (and replaced) when Next may find something new

	// removals are the removal writes of Done whose outcome is not known yet, oldest first.
	// unremoved are the items whose removal write failed (a full disk), and readDirty says the
	// read position's did: the next Done writes them again.
	removals  []removal
	unremoved []uint64
	readDirty bool
}

// removal is a removal write of Done.
type removal struct {
	wait func(context.Context) error
	seqs []uint64
	read bool // it also wrote the read position
}

// Open recovers the queue kept in client and returns it. Items not Done before a crash or a
// shutdown are delivered again, in order. It reads every queued item once (to learn its size and
// time). The client must implement Store (the walstorage extension's client does); the queue
// does not close the client.
func Open(ctx context.Context, client storage.Client) (*Queue, error) {
	store, ok := client.(Store)
	if !ok {
		return nil, fmt.Errorf("cannot open the queue: its storage client (%T) does not offer ordered writes "+
			"and partial reads (Enqueue, GetAppend and GetPrefix methods); use the walstorage extension", client)
	}
	q := &Queue{store: store, wake: make(chan struct{})}
	var err error
	if q.w, err = readPosition(ctx, store, writeKey); err != nil {
		return nil, err
	}
	if q.r, err = readPosition(ctx, store, readKey); err != nil {
		return nil, err
	}
	if q.r > q.w {
		return nil, fmt.Errorf("cannot open the queue: read position %d is past write position %d", q.r, q.w)
	}
	for seq := q.r; seq < q.w; seq++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Only the header: recovery does not read a backlog of gigabytes.
		v, n, found, err := store.GetPrefix(itemKey(seq), headerLen)
		if err != nil {
			return nil, fmt.Errorf("cannot read item %d of the queue: %w", seq, err)
		}
		if !found {
			continue // Done
		}
		if n < headerLen {
			return nil, fmt.Errorf("cannot read item %d of the queue: %d bytes, less than its %d-byte header", seq, n, headerLen)
		}
		size := n - headerLen
		q.entries = append(q.entries, entry{seq: seq, size: size, added: int64(binary.BigEndian.Uint64(v))})
		q.bytes += int64(size)
	}
	q.durable = q.w
	return q, nil
}

func readPosition(ctx context.Context, client storage.Client, key string) (uint64, error) {
	v, err := client.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("cannot read the queue's position %q: %w", key, err)
	}
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("cannot read the queue's position %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Put appends data to the queue and returns once it is durable; concurrent Puts share the
// storage's fsyncs. Items are handed out in the order their Puts were accepted. It returns
// the storage's error unchanged (a full walstorage: a gRPC ResourceExhausted status), ErrClosed
// after Close, or ctx's error. An item whose Put returned an error may or may not be delivered.
func (q *Queue) Put(ctx context.Context, data []byte) error {
	v := make([]byte, HeaderLen+len(data))
	copy(v[HeaderLen:], data)
	return q.PutOwned(ctx, v)
}

// HeaderLen is the room PutOwned needs at the front of its buffer.
const HeaderLen = headerLen

// PutOwned is Put for a buffer whose first HeaderLen bytes are free for the queue's use; the
// item's data is the rest. The buffer is written as it is, without a copy: the queue owns it from
// the call on, and the caller must not change it — until PutOwned returns nil: the item is then
// durable and neither the queue nor walstorage's log use buf any more (Next reads the item back
// from the log), so the caller may reuse it. After an error the write may still be going on.
func (q *Queue) PutOwned(ctx context.Context, buf []byte) error {
	if len(buf) < HeaderLen {
		return fmt.Errorf("fifo: PutOwned needs %d bytes of room for the header, got a buffer of %d", HeaderLen, len(buf))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data := buf[HeaderLen:]
	added := time.Now().UnixNano()
	v := buf
	binary.BigEndian.PutUint64(v, uint64(added))
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	seq := q.w
	// Under the lock: the log's order is the sequence order, and "w" only grows in it.
	wait, err := q.store.Enqueue(storage.SetOperation(itemKey(seq), v), storage.SetOperation(writeKey, position(seq+1)))
	if err != nil {
		q.mu.Unlock()
		return err
	}
	q.w++
	q.entries = append(q.entries, entry{seq: seq, size: len(data), added: added})
	q.bytes += int64(len(data))
	q.mu.Unlock()

	err = wait(ctx)
	switch {
	case err == nil:
		q.written(seq)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The write goes on: learn its outcome so that the item is handed out (or dropped).
		go func() {
			if wait(context.Background()) == nil {
				q.written(seq)
			} else {
				q.lost(seq)
			}
		}()
	default:
		q.lost(seq)
	}
	return err
}

// written records that seq, and with it every seq before it, is durable.
func (q *Queue) written(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if seq >= q.durable {
		q.durable = seq + 1
		q.notify()
	}
}

// lost forgets an item whose write failed: the storage does not have it.
func (q *Queue) lost(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i, ok := q.find(seq); ok {
		q.remove(i)
		q.dropDone()
	}
}

// notify wakes the Next callers. Called with mu held.
func (q *Queue) notify() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// find returns the index of seq in entries. Called with mu held.
func (q *Queue) find(seq uint64) (int, bool) {
	i := sort.Search(len(q.entries), func(i int) bool { return q.entries[i].seq >= seq })
	return i, i < len(q.entries) && q.entries[i].seq == seq
}

// remove marks entries[i] done. Called with mu held.
func (q *Queue) remove(i int) bool {
	e := &q.entries[i]
	if e.done {
		return false
	}
	e.done = true
	q.holes++
	q.bytes -= int64(e.size)
	return true
}

// dropDone forgets the done entries at the front. Called with mu held.
func (q *Queue) dropDone() {
	n := 0
	for n < len(q.entries) && q.entries[n].done {
		n++
	}
	q.entries = q.entries[n:]
	q.next = max(q.next-n, 0)
	q.holes -= n
	if len(q.entries) == 0 {
		q.entries = nil // let the array go
	}
	if q.holes > 64 && q.holes > len(q.entries)/2 {
		// An old item not Done (a sender still retrying it) keeps the items Done after it: drop
		// them, so that memory follows the items queued rather than the items put since.
		kept := make([]entry, 0, len(q.entries)-q.holes)
		next := 0
		for i, e := range q.entries {
			if !e.done {
				kept = append(kept, e)
				if i < q.next {
					next++
				}
			}
		}
		q.entries, q.next, q.holes = kept, next, 0
	}
}

// Next blocks until at least one item is available, then returns the oldest items not handed out
// yet, in order: as many as are available up to maxBytes of Data in total, and at least one even
// if it is larger. Items are handed out once they are durable, and only once in this process.
// It returns ErrClosed after Close, ctx's error, or the storage's error reading an item (the
// items it took are then handed out again). An item the storage does not have (its write failed
// after it was accepted) is skipped and forgotten.
func (q *Queue) Next(ctx context.Context, maxBytes int) ([]Item, error) {
	items, _, err := q.NextAppend(ctx, maxBytes, nil)
	return items, err
}

// NextAppend is Next that reads the items into buf, reused: their Data are slices of the buffer
// it returns, valid until the caller reuses it (the next NextAppend with it).
func (q *Queue) NextAppend(ctx context.Context, maxBytes int, buf []byte) ([]Item, []byte, error) {
	q.mu.Lock()
	var taken []entry
	for {
		if q.closed {
			q.mu.Unlock()
			return nil, buf, ErrClosed
		}
		taken = q.take(maxBytes)
		if len(taken) > 0 {
			break
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, buf, ctx.Err()
		case <-wake:
		}
		q.mu.Lock()
	}
	q.mu.Unlock()

	total := 0
	for _, e := range taken {
		total += headerLen + e.size
	}
	buf = slices.Grow(buf[:0], total)
	items := make([]Item, 0, len(taken))
	var missing []uint64
	for _, e := range taken {
		start := len(buf)
		var (
			found bool
			err   error
		)
		buf, found, err = q.store.GetAppend(buf, itemKey(e.seq))
		if err == nil && found && len(buf)-start < headerLen {
			err = fmt.Errorf("%d bytes, less than its %d-byte header", len(buf)-start, headerLen)
		}
		if err != nil {
			q.giveBack(taken)
			return nil, buf, fmt.Errorf("cannot read item %d of the queue: %w", e.seq, err)
		}
		if !found { // lost by a failed write
			buf = buf[:start]
			missing = append(missing, e.seq)
			continue
		}
		items = append(items, Item{Seq: e.seq, Data: buf[start+headerLen:], Added: time.Unix(0, e.added)})
	}
	// buf may have moved as it grew: slice the items from the final buffer, where they follow
	// one another, each after its header.
	end := 0
	for i := range items {
		start := end + headerLen
		end = start + len(items[i].Data)
		items[i].Data = buf[start:end]
	}
	q.forget(missing)
	if len(items) == 0 {
		return q.NextAppend(ctx, maxBytes, buf)
	}
	return items, buf, nil
}

// take marks the oldest durable entries not handed out as out and returns them, up to maxBytes.
// Called with mu held.
func (q *Queue) take(maxBytes int) []entry {
	var taken []entry
	total := 0
	for ; q.next < len(q.entries); q.next++ {
		e := &q.entries[q.next]
		if e.out || e.done {
			continue
		}
		if e.seq >= q.durable || (len(taken) > 0 && total+e.size > maxBytes) {
			break
		}
		e.out = true
		taken = append(taken, *e)
		total += e.size
	}
	return taken
}

// giveBack makes entries that Next took but could not read available again.
func (q *Queue) giveBack(entries []entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range entries {
		if i, ok := q.find(e.seq); ok {
			q.entries[i].out = false
			q.next = min(q.next, i)
		}
	}
	q.notify()
}

func (q *Queue) forget(seqs []uint64) {
	for _, seq := range seqs {
		q.lost(seq)
	}
}

// Done removes delivered items from the queue. It does not wait for the write: losing it in a
// crash only means that the items are delivered again. A removal write that fails (a full disk)
// is written again by the next Done, so the storage gets the space of the items back without a
// restart. Items already Done are ignored. It may be called after Close; it returns the
// storage's error.
func (q *Queue) Done(items ...Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settleRemovals()
	seqs := make([]uint64, 0, len(items)+len(q.unremoved))
	for _, it := range items {
		if i, ok := q.find(it.Seq); ok && q.remove(i) {
			seqs = append(seqs, it.Seq)
		}
	}
	if len(seqs) > 0 {
		q.dropDone()
	}
	seqs = append(seqs, q.unremoved...)
	r := q.w
	if len(q.entries) > 0 {
		r = q.entries[0].seq
	}
	writeRead := r != q.r || q.readDirty
	if len(seqs) == 0 && !writeRead {
		return nil
	}
	ops := make([]*storage.Operation, 0, len(seqs)+1)
	for _, seq := range seqs {
		ops = append(ops, storage.DeleteOperation(itemKey(seq)))
	}
	if writeRead {
		ops = append(ops, storage.SetOperation(readKey, position(r)))
		q.r = r
	}
	// Under the lock: read positions reach the log in increasing order.
	wait, err := q.store.Enqueue(ops...)
	if err != nil {
		q.unremoved, q.readDirty = seqs, q.readDirty || writeRead
		return fmt.Errorf("cannot remove delivered items from the queue: %w", err)
	}
	q.unremoved, q.readDirty = nil, false
	q.removals = append(q.removals, removal{wait: wait, seqs: seqs, read: writeRead})
	return nil
}

// done is a context that is already done: a wait with it reports an outcome without blocking.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// settleRemovals learns the outcome of the removal writes that are written (they complete in
// order) and keeps the items of the failed ones for the next Done. Called with mu held.
func (q *Queue) settleRemovals() {
	for len(q.removals) > 0 {
		r := q.removals[0]
		err := r.wait(done)
		if errors.Is(err, context.Canceled) {
			return // not written yet
		}
		if err != nil {
			q.unremoved = append(q.unremoved, r.seqs...)
			q.readDirty = q.readDirty || r.read
		}
		q.removals[0] = removal{}
		q.removals = q.removals[1:]
	}
	if len(q.removals) == 0 {
		q.removals = nil
	}
}

// Len is the number of items put and not Done, handed out or not.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries) - q.holes
}

// Bytes is the Data bytes of the items put and not Done.
func (q *Queue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// OldestAdded returns the Added time of the oldest item not Done, and false when there is none.
func (q *Queue) OldestAdded() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.entries) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, q.entries[0].added), true
}

// Close makes Put and Next return ErrClosed, waking the Next callers. It does not close the
// storage client, and leaves Done working. It is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.notify()
	}
	return nil
}
