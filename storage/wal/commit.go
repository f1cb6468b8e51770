package wal

import (
	"fmt"
	"os"
	"path/filepath"
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
		for _, r := range batch {
			r.done <- err
		}
		if err == nil {
			l.compact()
		}
	}
}

// commit writes the requests as consecutive records and fsyncs once.
func (l *Log) commit(reqs []*request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	buf := l.buf[:0]
	starts := make([]int, len(reqs))
	valueOffsets := make([][]int, len(reqs))
	for i, r := range reqs {
		starts[i] = len(buf)
		buf, valueOffsets[i] = encodeBatch(buf, r.ops)
	}
	l.buf = buf
	active := l.segs[l.order[len(l.order)-1]]
	if active.size > 0 && active.size+int64(len(buf)) > l.opts.SegmentBytes {
		if err := l.newSegment(active.id + 1); err != nil {
			l.failed = fmt.Errorf("durable queue stopped: %w", err)
			return l.failed
		}
		active = l.segs[active.id+1]
	}
	if _, err := active.f.WriteAt(buf, active.size); err != nil {
		l.failed = fmt.Errorf("durable queue stopped: cannot write segment %s: %w", segName(active.id), err)
		return l.failed
	}
	if !l.opts.NoSync {
		if err := active.f.Sync(); err != nil {
			l.failed = fmt.Errorf("durable queue stopped: cannot fsync segment %s: %w", segName(active.id), err)
			return l.failed
		}
	}
	for i, r := range reqs { // the index from what was encoded: no need to decode it back
		for j, op := range r.ops {
			l.applyOp(active.id, active.size+int64(starts[i]), op.Key, op.Delete, valueOffsets[i][j], len(op.Value))
		}
	}
	active.size += int64(len(buf))
	l.disk += int64(len(buf))
	l.qmu.Lock()
	l.stats.Commits++
	l.stats.Batches += int64(len(reqs))
	l.qmu.Unlock()
	return nil
}

// compact removes the oldest segment once nothing in it is live, or copies its few live values
// forward when less than a quarter of it is live. Only the oldest segment is ever removed, so a
// deletion recorded in a newer segment can never be outlived by the value it deleted.
func (l *Log) compact() {
	for range 4 {
		l.mu.RLock()
		if len(l.order) < 2 || l.failed != nil {
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
