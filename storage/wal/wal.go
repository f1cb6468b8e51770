package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrFull is returned by Apply when the log is over Options.MaxBytes and the batch creates keys.
// Batches that delete keys, or only update keys that exist (a consumer's read position, a
// seal decision), are always accepted: refusing them would keep consumers from draining the log.
var ErrFull = errors.New("durable queue is full")

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("durable queue is closed")

// ErrWrite wraps the error of a batch that could not be written or made durable (a full disk:
// ENOSPC, a quota: EDQUOT, an I/O error). Such a failure is not final: the batches of the
// failed write are not applied — they are absent as a whole, now and after a restart — and the
// log takes the next batches as usual, so writing resumes by itself once the cause is gone.
var ErrWrite = errors.New("cannot write the durable queue")

// Options configure a Log.
type Options struct {
	// SegmentBytes is the size at which a new segment file is started (default 64 MiB).
	SegmentBytes int64
	// MaxBytes bounds the bytes on disk; 0 means unbounded.
	MaxBytes int64
	// NoSync skips fsync (benchmarks of the cost of durability only; never in production).
	NoSync bool
	// WriteStateChanged, when set, is called when writes start failing (with the error) and when
	// a write succeeds again after failures (with nil), from the goroutine that writes: it must
	// return quickly and must not call the Log. It is called before the batch that changed the
	// state is answered.
	WriteStateChanged func(err error)
}

type segment struct {
	id   uint64
	f    *os.File
	size int64
	live int64 // bytes of values still referenced by the index
	// dirty: a failed write may have left bytes past size; they are cut off (repair) before
	// anything more is written to the segment. Only the commit loop (and Close) use it.
	dirty bool
}

type loc struct {
	seg uint64
	off int64
	n   int64
}

type request struct {
	ops  []Op
	done chan error
}

// Log is a durable key-value log. All methods are safe for concurrent use. Apply blocks until
// the batch is on disk (fsync), sharing the fsync with the batches that arrived meanwhile.
type Log struct {
	dir  string
	opts Options

	mu    sync.RWMutex // index, segments
	index map[string]loc
	segs  map[uint64]*segment
	order []uint64 // segment ids, oldest first; the last is active
	disk  int64

	qmu     sync.Mutex
	pending []*request
	// unwritten maps each key of the enqueued batches not yet written to the latest of them, so
	// that Get sees a value as soon as it is enqueued (read your writes).
	unwritten map[string]*request
	closed    bool
	wake      chan struct{}
	stopped   chan struct{}
	recs      records // the commit loop's
	stats     Stats
	writeErr  error // the error of the last commit of batches, nil when it succeeded

	// pwritev and fdatasync are the commit loop's system calls (tests inject failures).
	pwritev   func(fd int) pwritevFunc
	fdatasync func(fd int) error
}

// Stats are counters of a Log since Open.
type Stats struct {
	Commits int64 // fsyncs of batches
	Batches int64 // batches applied
	// FailedBatches counts the batches refused because their write failed, by the reason of the
	// failure (FailureReason).
	FailedBatches map[string]int64
}

// Open opens (creating if needed) the log in dir, replaying it. A torn record at the end of the
// newest segment (a crash during a write) is cut off; damage anywhere else is an error.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create queue directory %q: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, index: map[string]loc{}, segs: map[uint64]*segment{},
		wake: make(chan struct{}, 1), stopped: make(chan struct{}), unwritten: map[string]*request{},
		pwritev: pwritevFile, fdatasync: unix.Fdatasync}
	if err := l.replay(); err != nil {
		_ = l.closeFiles()
		return nil, err
	}
	if len(l.order) == 0 {
		if err := l.newSegment(1); err != nil {
			return nil, err
		}
	}
	go l.commitLoop()
	return l, nil
}

func segName(id uint64) string { return fmt.Sprintf("seg-%016x.wal", id) }

func (l *Log) replay() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("cannot read queue directory %q: %w", l.dir, err)
	}
	var ids []uint64
	for _, e := range entries {
		var id uint64
		if _, err := fmt.Sscanf(e.Name(), "seg-%016x.wal", &id); err == nil && strings.HasSuffix(e.Name(), ".wal") {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i, id := range ids {
		path := filepath.Join(l.dir, segName(id))
		f, err := os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("cannot open segment %s: %w", path, err)
		}
		seg := &segment{id: id, f: f}
		l.segs[id], l.order = seg, append(l.order, id)
		off, err := l.replaySegment(seg, path, i == len(ids)-1)
		if err != nil {
			return err
		}
		seg.size = off
		l.disk += seg.size
	}
	if len(l.order) > 0 {
		l.preallocate(l.segs[l.order[len(l.order)-1]])
	}
	return nil
}

// replaySegment indexes the records of seg from its start, reading them one at a time: a segment
// is preallocated to SegmentBytes, and reading it whole made every start allocate that much
// (64 MiB, twice over while the buffer grew) and hold it in the process for minutes. It
// returns the end of the last whole record. A record that does not decode ends the segment
// when only zeros follow it (the unwritten, preallocated rest), is cut off in the newest segment
// (a torn write) and is an error anywhere else.
func (l *Log) replaySegment(seg *segment, path string, newest bool) (int64, error) {
	st, err := seg.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("cannot read segment %s: %w", path, err)
	}
	size := st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(seg.f, 0, size), 256<<10)
	var buf []byte
	off := int64(0)
	for off < size {
		ops, n, ok, err := readRecord(r, &buf, size-off)
		if err != nil {
			return 0, fmt.Errorf("cannot read segment %s: %w", path, err)
		}
		if ok {
			l.applyIndex(seg.id, off, ops)
			off += int64(n)
			continue
		}
		zeros, err := zerosFrom(seg.f, off, size)
		if err != nil {
			return 0, fmt.Errorf("cannot read segment %s: %w", path, err)
		}
		if zeros {
			break // the unwritten, preallocated rest of the segment
		}
		if !newest {
			return 0, fmt.Errorf("segment %s is damaged at byte %d (not the newest segment: not a torn write)", path, off)
		}
		if err := seg.f.Truncate(off); err != nil {
			return 0, fmt.Errorf("cannot cut the torn tail of %s at byte %d: %w", path, off, err)
		}
		break
	}
	return off, nil
}

// readRecord reads the next record from r, which has left bytes before the segment's end, into
// *buf (grown to the largest record). ok is false for a record that is torn or damaged; err is
// for a failed read.
func readRecord(r *bufio.Reader, buf *[]byte, left int64) (ops []decodedOp, n int, ok bool, err error) {
	if left < headerSize {
		return nil, 0, false, nil
	}
	hdr, err := r.Peek(headerSize)
	if err != nil {
		return nil, 0, false, err
	}
	payload := int64(binary.LittleEndian.Uint32(hdr))
	if payload > left-headerSize {
		return nil, 0, false, nil
	}
	need := headerSize + int(payload)
	if cap(*buf) < need {
		*buf = make([]byte, need)
	}
	b := (*buf)[:need]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, 0, false, err
	}
	ops, n, err = decodeBatch(b)
	if err != nil {
		return nil, 0, false, nil
	}
	return ops, n, true, nil
}

// zerosFrom reports whether f holds only zero bytes from off to size.
func zerosFrom(f *os.File, off, size int64) (bool, error) {
	b := make([]byte, 64<<10)
	for off < size {
		m, err := f.ReadAt(b[:min(int64(len(b)), size-off)], off)
		if !allZero(b[:m]) {
			return false, nil
		}
		off += int64(m)
		if err != nil && off < size {
			return false, err
		}
	}
	return true, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// preallocate reserves the active segment's blocks up to SegmentBytes, so that appending a batch
// overwrites allocated blocks instead of growing the file: the write and the fdatasync then
// touch no file-system metadata, which costs several times less CPU per byte. A file system
// without fallocate simply grows the file as it is written.
func (l *Log) preallocate(s *segment) {
	if l.opts.SegmentBytes > s.size {
		_ = unix.Fallocate(int(s.f.Fd()), 0, s.size, l.opts.SegmentBytes-s.size)
	}
}

// trim gives back the preallocated blocks a segment did not use, once no more is written to it.
func (l *Log) trim(s *segment) error {
	return s.f.Truncate(s.size)
}

// applyIndex records decoded ops of the record at (seg, off). Caller holds mu (or is replaying).
func (l *Log) applyIndex(seg uint64, off int64, ops []decodedOp) {
	for _, op := range ops {
		l.applyOp(seg, off, op.key, op.delete, op.valueOff, op.valueLen)
	}
}

// applyOp records one op of the record at (seg, off); valueOff is relative to the record.
func (l *Log) applyOp(seg uint64, off int64, key string, del bool, valueOff, valueLen int) {
	if old, ok := l.index[key]; ok {
		if s := l.segs[old.seg]; s != nil {
			s.live -= old.n
		}
	}
	if del {
		delete(l.index, key)
		return
	}
	l.index[key] = loc{seg: seg, off: off + int64(valueOff), n: int64(valueLen)}
	l.segs[seg].live += int64(valueLen)
}

// newSegment creates the segment id and makes it the active one once its directory entry is
// durable. A file of that name can only be left by an earlier attempt that failed (ids only
// grow): it is reused, emptied. After a failure nothing refers to the segment, and the file is
// removed (best effort), giving its preallocated blocks back.
func (l *Log) newSegment(id uint64) error {
	path := filepath.Join(l.dir, segName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create segment %s: %w", path, err)
	}
	s := &segment{id: id, f: f}
	l.preallocate(s)
	if err := l.syncDir(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("cannot create segment %s: cannot fsync the directory: %w", path, err)
	}
	l.segs[id] = s
	l.order = append(l.order, id)
	return nil
}

func (l *Log) syncDir() error {
	if l.opts.NoSync {
		return nil
	}
	d, err := os.Open(l.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get returns the value of key, or nil when it is not set. The slice is the caller's. It sees the
// batches enqueued before it, written or not.
func (l *Log) Get(key string) ([]byte, error) {
	v, ok, err := l.GetAppend(nil, key)
	if !ok || err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// GetAppend is Get that appends the value of key to dst, for callers that reuse a buffer; ok
// reports whether key is set.
func (l *Log) GetAppend(dst []byte, key string) (_ []byte, ok bool, _ error) {
	dst, _, ok, err := l.read(dst, key, math.MaxInt)
	return dst, ok, err
}

// read appends at most limit bytes of the start of key's value to dst and returns it with the
// value's size; ok reports whether key is set. It sees the batches enqueued before it.
func (l *Log) read(dst []byte, key string, limit int) (_ []byte, size int, ok bool, _ error) {
	l.qmu.Lock()
	if r := l.unwritten[key]; r != nil {
		v := r.lastOp(key)
		defer l.qmu.Unlock()
		if v == nil || v.Delete {
			return dst, 0, false, nil
		}
		return append(dst, v.Value[:min(limit, len(v.Value))]...), len(v.Value), true, nil
	}
	l.qmu.Unlock()
	l.mu.RLock()
	defer l.mu.RUnlock()
	at, ok := l.index[key]
	if !ok {
		return dst, 0, false, nil
	}
	n, m := len(dst), int(min(int64(limit), at.n))
	dst = slices.Grow(dst, m)[:n+m]
	if _, err := l.segs[at.seg].f.ReadAt(dst[n:], at.off); err != nil {
		return dst[:n], 0, false, fmt.Errorf("cannot read %q from segment %s: %w", key, segName(at.seg), err)
	}
	return dst, int(at.n), true, nil
}

// lastOp is the batch's last op on key, nil when it has none.
func (r *request) lastOp(key string) *Op {
	var v *Op
	for i, op := range r.ops {
		if op.Key == key {
			v = &r.ops[i]
		}
	}
	return v
}

// GetPrefix reads at most n bytes of the start of key's value, and the value's size, without
// reading the rest: for callers that keep a header at the front of large values. ok reports
// whether key is set.
func (l *Log) GetPrefix(key string, n int) (prefix []byte, size int, ok bool, err error) {
	return l.read(nil, key, n)
}

// Apply makes ops durable, in order, as one atomic batch: after a crash either all of them or
// none are there. It returns after the fsync, or ErrFull, ErrClosed, or the write error (ErrWrite:
// the batch is not applied; a later Apply may succeed). The values of ops must not change
// meanwhile (see Enqueue).
func (l *Log) Apply(ctx context.Context, ops []Op) error {
	p, err := l.Enqueue(ops)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}

// Pending is a batch handed to the log by Enqueue.
type Pending struct{ req *request }

// Enqueue hands ops to the log as one atomic batch and returns without waiting for it to be
// written: Wait does. Batches are written in the order they were enqueued, and one is durable
// only once every batch enqueued before it is. It returns ErrFull, ErrClosed or a size error
// without enqueuing anything. Get sees the batch at once.
//
// The log writes the values of ops from the caller's slices, without a copy: they must not
// change until Wait returned nil — after Wait returned ctx's error the write may still be going
// on — and a caller that does not wait must not change them at all. A value changed while it is
// written is stored with a wrong checksum, which a restart takes for a torn write or damage.
func (l *Log) Enqueue(ops []Op) (Pending, error) {
	if len(ops) == 0 {
		return Pending{}, nil
	}
	if size := batchSize(ops); size > maxBatchBytes {
		return Pending{}, fmt.Errorf("cannot store a batch of %d bytes: over the limit of %d bytes per batch", size, maxBatchBytes)
	}
	if l.opts.MaxBytes > 0 && !hasDelete(ops) {
		l.mu.RLock()
		full := l.disk >= l.opts.MaxBytes && l.createsKey(ops)
		l.mu.RUnlock()
		if full {
			return Pending{}, fmt.Errorf("%w: %d bytes on disk, limit %d bytes (max_bytes)", ErrFull, l.DiskBytes(), l.opts.MaxBytes)
		}
	}
	req := &request{ops: ops, done: make(chan error, 1)}
	l.qmu.Lock()
	if l.closed {
		l.qmu.Unlock()
		return Pending{}, ErrClosed
	}
	l.pending = append(l.pending, req)
	for _, op := range ops {
		l.unwritten[op.Key] = req
	}
	l.qmu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return Pending{req: req}, nil
}

// Wait blocks until the batch is durable (fsync) and returns the write error, if any (ErrWrite:
// the batch is absent as a whole). Once it returned nil the log holds no reference to the batch's
// values: Get reads them from disk. When ctx ends first it returns ctx.Err(): the batch may still
// be written, the outcome is unknown. With a ctx already done it reports the outcome if it is
// known, without blocking.
func (p Pending) Wait(ctx context.Context) error {
	if p.req == nil {
		return nil
	}
	select {
	case err := <-p.req.done:
		p.req.done <- err // for a second Wait
		return err
	default:
	}
	select {
	case err := <-p.req.done:
		p.req.done <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxBatchBytes bounds one batch (the record length is a uint32).
const maxBatchBytes = 1 << 30

func batchSize(ops []Op) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value) + 16
	}
	return n
}

// CreatesKey reports whether ops set a key that is neither set nor in an unwritten batch.
func (l *Log) CreatesKey(ops []Op) bool {
	l.qmu.Lock()
	var fresh []Op
	for _, op := range ops {
		if _, ok := l.unwritten[op.Key]; !ok && !op.Delete {
			fresh = append(fresh, op)
		}
	}
	l.qmu.Unlock()
	if len(fresh) == 0 {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.createsKey(fresh)
}

// createsKey reports whether ops set a key that is not in the index. Called with mu held.
func (l *Log) createsKey(ops []Op) bool {
	for _, op := range ops {
		if _, ok := l.index[op.Key]; !ok && !op.Delete {
			return true
		}
	}
	return false
}

func hasDelete(ops []Op) bool {
	for _, op := range ops {
		if op.Delete {
			return true
		}
	}
	return false
}

// DiskBytes is the size of all segments.
func (l *Log) DiskBytes() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.disk
}

// Len is the number of keys set.
func (l *Log) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.index)
}

// Stats returns the counters since Open.
func (l *Log) Stats() Stats {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	st := l.stats
	st.FailedBatches = maps.Clone(l.stats.FailedBatches)
	return st
}

// WriteErr is the error of the last write of batches, or nil when it succeeded: non-nil while
// the log cannot write (a full disk), until a write succeeds again.
func (l *Log) WriteErr() error {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return l.writeErr
}

// Close writes what is pending, stops the committer and closes the files. It is idempotent.
func (l *Log) Close() error {
	l.qmu.Lock()
	if l.closed {
		l.qmu.Unlock()
		<-l.stopped
		return nil
	}
	l.closed = true
	l.qmu.Unlock()
	close(l.wake)
	<-l.stopped
	l.mu.Lock()
	defer l.mu.Unlock()
	var trimErr error
	if len(l.order) > 0 { // also cuts off what a failed write left past the last record
		trimErr = l.trim(l.segs[l.order[len(l.order)-1]])
	}
	return errors.Join(trimErr, l.closeFiles())
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	return errors.Join(errs...)
}
