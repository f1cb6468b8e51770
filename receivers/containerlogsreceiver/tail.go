package containerlogsreceiver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/storage/wal"
)

// fileID names a file by device and inode: it keeps its name across rename rotation.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func (id fileID) key() string { return fmt.Sprintf("file/%d:%d", id.Dev, id.Ino) }

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: st.Ino} //nolint:unconvert // Dev is int32 on some platforms
	}
	return fileID{}
}

// position is what is stored of a file (key file/<dev>:<ino>): where to read again after a
// restart, and per stream (stdout, stderr) the offset after its last line emitted (lines of the
// stream before it are skipped when read again).
type position struct {
	Path   string   `json:"path"`
	Offset int64    `json:"offset"`
	Done   [2]int64 `json:"done"`
}

// indexKey lists the files being followed, so that after a restart a file renamed away
// meanwhile is found (by inode, beside its old name) and read to its end.
const indexKey = "index"

type indexEntry struct {
	fileID
	Path string `json:"path"`
}

// tracked is one open file being followed.
type tracked struct {
	id       fileID
	path     string
	ident    identity
	known    bool // ident read from the path
	f        *os.File
	read     int64 // offset after the last line read
	asm      assembler
	saved    position // last committed
	dirty    bool
	seen     bool // matched by the last scan
	atEOF    bool
	gone     int  // scans at its end since it stopped matching the include patterns
	finished bool // read to its end after it went away: closed once committed
	pod      []attr
}

type attr struct{ key, value string }

// emitFunc hands the records of some files to the pipeline; ctx carries a wal.Deferred.
type emitFunc func(ctx context.Context, files []*tracked, records [][]Record) error

// enqueuer is the walstorage client's Enqueue: the positions are written in the same group
// commit as the records the pipeline queued, after them.
type enqueuer interface {
	Enqueue(ops ...*storage.Operation) (func(context.Context) error, error)
}

// tailer finds, reads and follows the files. Only its run goroutine uses it.
type tailer struct {
	cfg     *Config
	start   *regexp.Regexp
	client  storage.Client
	emit    emitFunc
	logger  *zap.Logger
	count   func(ctx context.Context, reason string, n int) // discarded or cut, by reason
	skip    func(identity) bool                             // a pod's files not to follow (exclude_pod_annotations); nil: none
	now     func() time.Time
	files   map[fileID]*tracked
	buf     *bufio.Reader
	scanned bool // the first scan is done
	index   bool // the set of files changed: write the index
}

func newTailer(cfg *Config, client storage.Client, emit emitFunc, logger *zap.Logger,
	count func(context.Context, string, int)) *tailer {
	var start *regexp.Regexp
	if cfg.Multiline.LineStartPattern != "" {
		start = regexp.MustCompile(cfg.Multiline.LineStartPattern) // checked by Validate
	}
	return &tailer{cfg: cfg, start: start, client: client, emit: emit, logger: logger, count: count,
		now: time.Now, files: map[fileID]*tracked{},
		buf: bufio.NewReaderSize(nil, cfg.MaxLogBytes+64<<10)}
}

// run polls until ctx ends, then closes every file.
func (t *tailer) run(ctx context.Context) {
	defer t.closeAll()
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	for {
		more, err := t.poll(ctx)
		if err != nil && ctx.Err() == nil {
			t.logger.Warn("cannot pass container logs on; reading them again", zap.Error(err))
		}
		if more && err == nil && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *tailer) closeAll() {
	for id, f := range t.files {
		_ = f.f.Close()
		delete(t.files, id)
	}
}

// poll lists the files, reads what is new up to max_batch_bytes, and commits. more reports
// that files have more to read now.
func (t *tailer) poll(ctx context.Context) (more bool, err error) {
	t.scan(ctx)
	budget := t.cfg.MaxBatchBytes
	for _, f := range t.ordered() {
		if budget <= 0 {
			more = true
			break
		}
		n, err := t.readFile(f, budget)
		budget -= n
		if err != nil {
			t.logger.Warn("cannot read container log file", zap.String("path", f.path), zap.Error(err))
		}
	}
	now := t.now()
	for _, f := range t.files {
		f.asm.flush(now, t.cfg.FlushTimeout)
		if !f.seen && f.atEOF {
			if f.gone++; f.gone >= 2 { // read to its end twice since it went away
				f.asm.flush(now, 0)
				f.finished, f.dirty, t.index = true, true, true
			}
		}
	}
	return more, t.commit(ctx)
}

// ordered lists the files in a stable order (by path), so that none waits behind the others.
func (t *tailer) ordered() []*tracked {
	out := make([]*tracked, 0, len(t.files))
	for _, f := range t.files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *tracked) int {
		if a.path < b.path {
			return -1
		}
		if a.path > b.path {
			return 1
		}
		return 0
	})
	return out
}

// scan matches the include patterns and opens the files not followed yet.
func (t *tailer) scan(ctx context.Context) {
	for _, f := range t.files {
		f.seen = false
	}
	for _, pattern := range t.cfg.Include {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if matchAny(t.cfg.Exclude, m) {
				continue
			}
			ident, known := identityOf(m)
			if known && !t.namespaceAllowed(ident.Namespace) {
				continue
			}
			fi, err := os.Stat(m)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			id := idOf(fi)
			if f := t.files[id]; f != nil {
				f.seen, f.path, f.gone = true, m, 0
				continue
			}
			if known && t.skip != nil && t.skip(ident) {
				continue
			}
			if f := t.open(ctx, m, id, ident, known); f != nil {
				f.seen = true
			}
		}
	}
	if !t.scanned {
		t.scanned = true
		t.recoverRenamed(ctx)
	}
}

func (t *tailer) namespaceAllowed(ns string) bool {
	if len(t.cfg.IncludeNamespaces) > 0 && !matchAny(t.cfg.IncludeNamespaces, ns) {
		return false
	}
	return !matchAny(t.cfg.ExcludeNamespaces, ns)
}

// open starts following the file at path, from its stored position if it has one.
func (t *tailer) open(ctx context.Context, path string, id fileID, ident identity, known bool) *tracked {
	fh, err := os.Open(path)
	if err != nil {
		return nil
	}
	fi, err := fh.Stat()
	if err != nil || idOf(fi) != id { // replaced between Stat and Open: next scan
		_ = fh.Close()
		return nil
	}
	f := &tracked{id: id, path: path, ident: ident, known: known, f: fh,
		asm: assembler{maxBytes: t.cfg.MaxLogBytes, start: t.start}}
	pos, stored := t.load(ctx, id)
	switch {
	case stored && pos.Offset <= fi.Size():
		f.saved = pos
	case !t.scanned && t.cfg.StartAt == StartAtEnd:
		f.saved = position{Offset: fi.Size(), Done: [2]int64{fi.Size(), fi.Size()}}
		f.dirty = true
	default:
		f.dirty = true
	}
	f.saved.Path = path
	f.read = f.saved.Offset
	f.asm.reset(f.saved.Done)
	t.files[id] = f
	t.index = true
	return f
}

func (t *tailer) load(ctx context.Context, id fileID) (position, bool) {
	var pos position
	raw, err := t.client.Get(ctx, id.key())
	if err != nil || raw == nil || json.Unmarshal(raw, &pos) != nil {
		return position{}, false
	}
	return pos, true
}

// recoverRenamed finds the files of the stored index that the include patterns no longer match
// (renamed away while vigil was down) beside their old name, to read them to their end.
func (t *tailer) recoverRenamed(ctx context.Context) {
	raw, err := t.client.Get(ctx, indexKey)
	if err != nil || raw == nil {
		return
	}
	var entries []indexEntry
	if json.Unmarshal(raw, &entries) != nil {
		return
	}
	for _, e := range entries {
		if t.files[e.fileID] != nil {
			continue
		}
		dirEntries, _ := os.ReadDir(filepath.Dir(e.Path))
		for _, de := range dirEntries {
			p := filepath.Join(filepath.Dir(e.Path), de.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() || idOf(fi) != e.fileID {
				continue
			}
			ident, known := identityOf(e.Path)
			t.open(ctx, p, e.fileID, ident, known)
			break
		}
		if t.files[e.fileID] == nil { // gone for good
			_ = t.client.Delete(ctx, e.key())
			t.index = true
		}
	}
}

// readFile reads complete lines from the file's offset, up to budget bytes; it returns the
// bytes read.
func (t *tailer) readFile(f *tracked, budget int) (int, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size < f.read { // copytruncate: what was gathered is all there is of the old content
		f.asm.flush(t.now(), 0)
		out := f.asm.take()
		f.asm.reset([2]int64{})
		f.asm.out = out
		f.read, f.dirty = 0, true
	}
	f.atEOF = size == f.read
	if f.atEOF {
		return 0, nil
	}
	t.buf.Reset(io.NewSectionReader(f.f, f.read, size-f.read))
	n := 0
	for n < budget {
		line, err := t.buf.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			head := clone(line)
			total, err := skipLine(t.buf, len(line))
			if err != nil {
				break // no line end yet: read again when there is one
			}
			start := f.read
			f.read += total
			n += int(total)
			t.line(f, head, start, f.read, true)
			continue
		}
		if err != nil {
			break // io.EOF: a last line without its end is read again when complete
		}
		start := f.read
		f.read += int64(len(line))
		n += len(line)
		t.line(f, line[:len(line)-1], start, f.read, false)
	}
	f.atEOF = f.read == size
	return n, nil
}

// skipLine reads past the end of a line of which read bytes were read already, and returns
// its length with the newline; an error (io.EOF) when the line has no end yet.
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

// line parses one line of f and feeds it; head says raw is only the start of a longer line.
func (t *tailer) line(f *tracked, raw []byte, start, end int64, head bool) {
	f.dirty = true
	l, err := ParseLine(t.cfg.Format, raw)
	if err != nil {
		if start >= max(f.asm.streams[0].done, f.asm.streams[1].done) { // not counted before a restart
			reason := "malformed"
			if head {
				reason = "too_large"
			}
			t.count(context.Background(), reason, 1)
		}
		return
	}
	if f.asm.skip(l.Stream, start) {
		return
	}
	f.asm.feed(l, start, end, head, t.now())
}

// commit hands what was assembled to the pipeline and, once it is durable, the files'
// positions. If the pipeline refuses, every file goes back to its last committed position.
func (t *tailer) commit(ctx context.Context) error {
	var files []*tracked
	var records [][]Record
	var ops []*storage.Operation
	for _, f := range t.ordered() {
		if rs := f.asm.take(); len(rs) > 0 {
			files, records = append(files, f), append(records, rs)
			f.dirty = true
		}
		if !f.dirty {
			continue
		}
		if f.finished {
			ops = append(ops, storage.DeleteOperation(f.id.key()))
			continue
		}
		pos := position{Path: f.path, Offset: f.asm.resume(f.read),
			Done: [2]int64{f.asm.streams[0].done, f.asm.streams[1].done}}
		raw, _ := json.Marshal(pos)
		ops = append(ops, storage.SetOperation(f.id.key(), raw))
	}
	if t.index {
		var entries []indexEntry
		for _, f := range t.files {
			if !f.finished {
				entries = append(entries, indexEntry{fileID: f.id, Path: f.path})
			}
		}
		raw, _ := json.Marshal(entries)
		ops = append(ops, storage.SetOperation(indexKey, raw))
	}
	if len(ops) == 0 && len(files) == 0 {
		return nil
	}
	err := t.write(ctx, files, records, ops)
	if err != nil {
		for _, f := range t.files {
			if f.dirty {
				f.read, f.finished, f.gone, f.dirty = f.saved.Offset, false, 0, false
				f.asm.reset(f.saved.Done)
			}
		}
		return err
	}
	for _, rs := range records {
		for _, r := range rs {
			switch {
			case r.Truncated:
				t.count(ctx, "truncated", 1)
			case r.Split:
				t.count(ctx, "split", 1)
			}
		}
	}
	t.index = false
	for id, f := range t.files {
		if !f.dirty {
			continue
		}
		f.dirty = false
		f.saved = position{Path: f.path, Offset: f.asm.resume(f.read),
			Done: [2]int64{f.asm.streams[0].done, f.asm.streams[1].done}}
		if f.finished {
			_ = f.f.Close()
			delete(t.files, id)
		}
	}
	return nil
}

// write passes the records on and stores the positions after them: with walstorage both are
// written by the same group commit, records first, and the wait is one fsync.
func (t *tailer) write(ctx context.Context, files []*tracked, records [][]Record, ops []*storage.Operation) error {
	dctx, deferred := wal.WithDeferred(ctx)
	if len(files) > 0 {
		if err := t.emit(dctx, files, records); err != nil {
			_ = deferred.Wait(ctx)
			return err
		}
	}
	// Once the pipeline took the records, their positions are stored even when ctx ends
	// (Shutdown): else a restart would read them again.
	ctx = context.WithoutCancel(ctx)
	if e, ok := t.client.(enqueuer); ok && len(ops) > 0 {
		wait, err := e.Enqueue(ops...)
		if err != nil {
			_ = deferred.Wait(ctx)
			return fmt.Errorf("cannot store the files' positions: %w", err)
		}
		deferred.AddWait(wait)
		ops = nil
	}
	if err := deferred.Wait(ctx); err != nil {
		return fmt.Errorf("cannot make the batch durable: %w", err)
	}
	if len(ops) > 0 {
		if err := t.client.Batch(ctx, ops...); err != nil {
			return fmt.Errorf("cannot store the files' positions: %w", err)
		}
	}
	return nil
}
