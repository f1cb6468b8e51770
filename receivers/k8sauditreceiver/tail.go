package k8sauditreceiver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// position is how far one audit log file has been consumed; persisted after every batch the
// pipeline accepted.
type position struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// tailer follows one audit log file (JSON lines, as written by the apiserver's --audit-log-path)
// across rename rotation (a new file under the name: the old one is read to its end first, found
// by inode among its siblings), copytruncate (the file shrinks: read from the start), and
// restarts (the position is persisted in a storage extension).
type tailer struct {
	path   string
	client storage.Client
	key    string
	emit   func(ctx context.Context, events []Event) error
	limits Limits
	logger *zap.Logger
	reject func(ctx context.Context, r Rejected)
	batch  int
	pos    position
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// load reads the persisted position.
func (t *tailer) load(ctx context.Context) error {
	raw, err := t.client.Get(ctx, t.key)
	if err != nil || raw == nil {
		return err
	}
	return json.Unmarshal(raw, &t.pos)
}

func (t *tailer) save(ctx context.Context) error {
	raw, _ := json.Marshal(t.pos)
	return t.client.Set(ctx, t.key, raw)
}

// poll consumes what is new. It returns after reaching the end of the current file.
func (t *tailer) poll(ctx context.Context) error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // not yet created, or between rename and create
	}
	if err != nil {
		return err
	}
	ino := inodeOf(fi)
	if t.pos.Inode != 0 && t.pos.Inode != ino {
		// Renamed away: finish the old file if it is still there, then start the new one.
		if old := t.findByInode(t.pos.Inode); old != "" {
			if err := t.read(ctx, old); err != nil {
				return err
			}
		}
		t.pos = position{Inode: ino}
		if err := t.save(ctx); err != nil {
			return err
		}
	}
	if t.pos.Inode == 0 {
		t.pos.Inode = ino
	}
	if fi.Size() < t.pos.Offset { // copytruncate
		t.pos.Offset = 0
	}
	return t.read(ctx, t.path)
}

// findByInode looks for a rotated file with the given inode beside the followed path.
func (t *tailer) findByInode(ino uint64) string {
	matches, _ := filepath.Glob(t.path + "*")
	more, _ := filepath.Glob(filepath.Join(filepath.Dir(t.path), "*"))
	for _, m := range append(matches, more...) {
		if fi, err := os.Stat(m); err == nil && !fi.IsDir() && inodeOf(fi) == ino {
			return m
		}
	}
	return ""
}

// read consumes complete lines of path from the position, in batches; the position advances
// only after the pipeline accepted a batch.
func (t *tailer) read(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(t.pos.Offset, io.SeekStart); err != nil {
		return err
	}
	// A line is read into the reader's buffer, which holds one event of max_event_bytes and its
	// newline: a longer line is skipped through, not gathered (skipLine), and rejected.
	r := bufio.NewReaderSize(f, max(t.limits.MaxEventBytes+1, 64<<10))
	var events []Event
	var held int // bytes of the events' bodies
	consumed := t.pos.Offset
	flush := func() error {
		if len(events) > 0 {
			if err := t.emit(ctx, events); err != nil {
				return err
			}
			events, held = events[:0], 0
		}
		t.pos.Offset = consumed
		return t.save(ctx)
	}
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n, err := skipLine(r, len(line))
			if err == io.EOF {
				break // read again when it is complete
			}
			if err != nil {
				return err
			}
			consumed += n
			t.reject(ctx, Rejected{Reason: ReasonTooLarge, Message: fmt.Sprintf(
				"line of %d bytes at offset %d of %s is over the limit of %d bytes (max_event_bytes)",
				n-1, consumed-n, path, t.limits.MaxEventBytes)})
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			consumed += int64(len(line))
			held += t.parse(ctx, line, &events)
			if len(events) >= t.batch || held >= tailBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break // a partial last line is read again when it is complete
		}
		if err != nil {
			return err
		}
	}
	if consumed == t.pos.Offset {
		return nil
	}
	return flush()
}

// skipLine reads past the end of a line of which read bytes were read already, and returns
// its length with the newline; io.EOF when the line has no end yet.
func skipLine(r *bufio.Reader, read int) (int64, error) {
	n := int64(read)
	for {
		chunk, err := r.ReadSlice('\n')
		n += int64(len(chunk))
		if !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
	}
}

// tailBatchBytes bounds the bodies of a batch read from a file (beside tailer.batch events).
const tailBatchBytes = 8 << 20

// parse decodes one line (read into the reader's buffer: decodeEvent keeps a copy) and returns
// the size of the event it added.
func (t *tailer) parse(ctx context.Context, line []byte, events *[]Event) int {
	raw := line[:len(line)-1]
	if len(raw) == 0 {
		return 0
	}
	ev, rej := decodeEvent(0, raw, t.limits)
	if rej != nil {
		t.reject(ctx, *rej)
		return 0
	}
	*events = append(*events, ev)
	return len(ev.Raw)
}

// run polls every interval until ctx ends.
func (t *tailer) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := t.poll(ctx); err != nil && ctx.Err() == nil {
			t.logger.Warn("cannot read audit log file; retrying", zap.String("path", t.path), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
