package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// commitLoop writes the pending batches of all writers with one write and one fsync, then
// answers them; it compacts the oldest segment when most of it is dead.
func (l *Log) commitLoop() {
	defer close(l.stopped)
	for range l.wake {
		l.commitPending()
	}
	l.commitPending() // what arrived before Close
}

func (l *Log) commitPending() {
	for {
		l.qmu.Lock()
		batch := l.pending
		l.pending = nil
		l.qmu.Unlock()
		if len(batch) == 0 {
			return
		}
		err := l.commit(batch)
		l.qmu.Lock()
		for _, r := range batch { // Get reads them from the index now (or, after an error, not at all)
			for _, op := range r.ops {
				if l.unwritten[op.Key] == r {
					delete(l.unwritten, op.Key)
				}
			}
		}
		changed := (err == nil) != (l.writeErr == nil)
		l.writeErr = err
		if err != nil {
			if l.stats.FailedBatches == nil {
				l.stats.FailedBatches = map[string]int64{}
			}
			l.stats.FailedBatches[FailureReason(err)] += int64(len(batch))
		}
		l.qmu.Unlock()
		if changed && l.opts.WriteStateChanged != nil { // reported before the batch is answered
			l.opts.WriteStateChanged(err)
		}
		for _, r := range batch {
			r.done <- err
		}
		if err == nil {
			l.compact()
		}
	}
}

// commit writes the requests as consecutive records and fsyncs once. Only the commit loop
// writes, so the write and the fsync run without the index lock: readers (Get) go on meanwhile,
// and see the new values once they are durable.
//
// A failure (ErrWrite) leaves the log as it was before the call: the index and the segment's
// size do not move, and what the failed write may have put past the last record is cut off
// before anything else is written (repair), so the next commit starts from a consistent log.
func (l *Log) commit(reqs []*request) error {
	l.mu.RLock()
	active := l.segs[l.order[len(l.order)-1]]
	l.mu.RUnlock()
	if err := l.repair(active); err != nil {
		return err
	}
	recs := &l.recs
	defer recs.reset() // no reference to the values once they are durable (Pending.Wait)
	for _, r := range reqs {
		recs.add(r.ops)
	}
	size := int64(recs.size())
	if active.size > 0 && active.size+size > l.opts.SegmentBytes {
		l.mu.Lock()
		err := l.trim(active)
		if err == nil {
			err = l.newSegment(active.id + 1)
		}
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		l.mu.RLock()
		active = l.segs[active.id+1]
		l.mu.RUnlock()
	}
	if err := l.writeSync(active, recs); err != nil {
		active.dirty = true
		_ = l.repair(active) // now if it can be, else before the next write
		return err
	}
	l.mu.Lock()
	k := 0
	for _, r := range reqs { // the index from what was encoded: no need to decode it back
		for _, op := range r.ops {
			l.applyOp(active.id, active.size, op.Key, op.Delete, recs.offsets[k], len(op.Value))
			k++
		}
	}
	active.size += size
	l.disk += size
	l.mu.Unlock()
	l.qmu.Lock()
	l.stats.Commits++
	l.stats.Batches += int64(len(reqs))
	l.qmu.Unlock()
	return nil
}

// repair cuts off what a failed write may have left past the last record of s — a part of a
// record, or whole records of batches that were refused — and makes the cut durable, so that
// neither a later shorter record nor a restart can take those bytes for batches. It then
// reserves the segment's blocks again. A segment that needs no repair is left alone.
func (l *Log) repair(s *segment) error {
	if !s.dirty {
		return nil
	}
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("%w: cannot cut segment %s back to its last record (byte %d) after a failed write: %w",
			ErrWrite, segName(s.id), s.size, err)
	}
	if !l.opts.NoSync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("%w: cannot fsync segment %s after cutting it back to its last record: %w", ErrWrite, segName(s.id), err)
		}
	}
	s.dirty = false
	l.preallocate(s)
	return nil
}

// writeSync appends the records to the active segment and makes them durable. fdatasync is
// enough: the segment's blocks are preallocated (or, where they are not, Linux's fdatasync also
// writes the file size needed to read the data back).
func (l *Log) writeSync(active *segment, recs *records) error {
	if err := recs.writeAt(l.pwritev(int(active.f.Fd())), active.size); err != nil {
		return fmt.Errorf("%w: cannot write segment %s: %w", ErrWrite, segName(active.id), err)
	}
	if l.opts.NoSync {
		return nil
	}
	if err := l.fdatasync(int(active.f.Fd())); err != nil {
		return fmt.Errorf("%w: cannot fsync segment %s: %w", ErrWrite, segName(active.id), err)
	}
	return nil
}

// FailureReason classifies a write error for metrics: "no_space" (ENOSPC), "quota" (EDQUOT),
// "read_only" (EROFS), "io" (EIO), else "other".
func FailureReason(err error) string {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return "no_space"
	case errors.Is(err, unix.EDQUOT):
		return "quota"
	case errors.Is(err, unix.EROFS):
		return "read_only"
	case errors.Is(err, unix.EIO):
		return "io"
	default:
		return "other"
	}
}

// compact removes the oldest segment once nothing in it is live, or copies its few live values
// forward when less than a quarter of it is live. Only the oldest segment is ever removed, so a
// deletion recorded in a newer segment can never be outlived by the value it deleted.
func (l *Log) compact() {
	for range 4 {
		l.mu.RLock()
		if len(l.order) < 2 {
			l.mu.RUnlock()
			return
		}
		oldest := l.segs[l.order[0]]
		live, size := oldest.live, oldest.size
		var moves []Op
		if live > 0 && live*4 < size {
			for k, at := range l.index {
				if at.seg == oldest.id {
					v := make([]byte, at.n)
					if _, err := oldest.f.ReadAt(v, at.off); err != nil {
						l.mu.RUnlock()
						return
					}
					moves = append(moves, Op{Key: k, Value: v})
				}
			}
		}
		l.mu.RUnlock()
		if live > 0 && live*4 >= size {
			return
		}
		if len(moves) > 0 {
			if err := l.commit([]*request{{ops: moves}}); err != nil {
				return
			}
		}
		l.mu.Lock()
		if l.segs[oldest.id].live != 0 { // a value moved meanwhile? (cannot: writes go through this goroutine)
			l.mu.Unlock()
			return
		}
		err := os.Remove(filepath.Join(l.dir, segName(oldest.id)))
		if err == nil {
			_ = oldest.f.Close()
			delete(l.segs, oldest.id)
			l.order = l.order[1:]
			l.disk -= size
			_ = l.syncDir()
		}
		l.mu.Unlock()
		if err != nil {
			return
		}
	}
}
