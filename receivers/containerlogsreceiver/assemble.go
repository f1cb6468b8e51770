package containerlogsreceiver

import (
	"regexp"
	"time"
)

// Record is one log record assembled from one or more lines of a file: the lines of one output
// line split by the runtime (partial lines), and with a start pattern the lines of one multiline
// message. Offset is where its first line starts in the file.
type Record struct {
	Time      time.Time
	Stream    string
	Body      []byte
	Offset    int64
	Truncated bool // a single line was longer than max_log_bytes and was cut
	Split     bool // the message went on past max_log_bytes: the rest is in the next record
}

// piece is what is being gathered of one stream: its bytes and where its lines are in the file.
type piece struct {
	body      []byte
	start     int64     // offset of the first line
	end       int64     // offset after the last line
	time      time.Time // of the first line
	last      time.Time // wall time the last line was added (flush_timeout)
	truncated bool
	open      bool
}

func (p *piece) add(l Line, start, end int64, truncated bool, now time.Time) {
	if !p.open {
		*p = piece{body: p.body[:0], start: start, time: l.Time, open: true}
	}
	p.body = append(p.body, l.Body...)
	p.end, p.last = end, now
	p.truncated = p.truncated || truncated
}

// streamState is the assembly of one stream (stdout, stderr) of a file. done is the offset after
// the last line of the stream whose content was emitted: after a restart, lines of the stream
// that start before it are skipped.
type streamState struct {
	partial piece // P lines of one output line, until its F line
	group   piece // full lines of one multiline message
	done    int64
}

// assembler turns the lines of one file into records, one stream at a time (stdout and stderr
// lines interleave in the file). It is not safe for concurrent use.
type assembler struct {
	maxBytes int
	start    *regexp.Regexp // multiline start pattern; nil: every line is a record
	streams  [2]streamState
	out      []Record
	split    int // records split at max_log_bytes (for the counter)
}

func streamIndex(s string) int {
	if s == streamStderr {
		return 1
	}
	return 0
}

// skip reports whether a line of stream that starts at offset was emitted before a restart.
func (a *assembler) skip(stream string, offset int64) bool {
	return offset < a.streams[streamIndex(stream)].done
}

// feed adds one parsed line that spans [start, end) of the file; truncated says its body was cut
// at max_log_bytes.
func (a *assembler) feed(l Line, start, end int64, truncated bool, now time.Time) {
	if len(l.Body) > a.maxBytes {
		l.Body, truncated = l.Body[:a.maxBytes], true
	}
	s := &a.streams[streamIndex(l.Stream)]
	p := &s.partial
	if p.open && len(p.body)+len(l.Body) > a.maxBytes {
		// The output line goes on past the limit: what was gathered is one record, the rest
		// the next ones. Split only between lines, so that positions stay exact; a multiline
		// message gathered before goes first.
		if s.group.open {
			a.emitPiece(s, &s.group, l.Stream, false)
		}
		a.emitPiece(s, p, l.Stream, true)
	}
	if l.Partial || p.open {
		p.add(l, start, end, truncated, now)
		if l.Partial {
			return
		}
		// The F line completes the output line.
		full := Line{Time: p.time, Stream: l.Stream, Body: p.body}
		a.full(s, full, p.start, end, p.truncated, now)
		p.open = false
		return
	}
	a.full(s, l, start, end, truncated, now)
}

// full handles one complete output line: a record alone, or a line of a multiline message.
func (a *assembler) full(s *streamState, l Line, start, end int64, truncated bool, now time.Time) {
	if a.start == nil {
		a.emit(s, Record{Time: l.Time, Stream: l.Stream, Body: clone(l.Body), Offset: start, Truncated: truncated}, end)
		return
	}
	g := &s.group
	if g.open && (a.start.Match(l.Body) || len(g.body)+1+len(l.Body) > a.maxBytes) {
		a.emitPiece(s, g, l.Stream, !a.start.Match(l.Body))
	}
	if g.open {
		g.body = append(g.body, '\n')
	}
	g.add(l, start, end, truncated, now)
}

func (a *assembler) emitPiece(s *streamState, p *piece, stream string, split bool) {
	if split {
		a.split++
	}
	a.emit(s, Record{Time: p.time, Stream: stream, Body: clone(p.body), Offset: p.start,
		Truncated: p.truncated, Split: split}, p.end)
	p.open = false
}

func (a *assembler) emit(s *streamState, r Record, end int64) {
	a.out = append(a.out, r)
	s.done = end
}

// flush emits what has waited since before now-timeout (timeout 0: everything): a multiline
// message whose next line did not come, a partial line whose end did not come (the container
// stopped half way through a line).
func (a *assembler) flush(now time.Time, timeout time.Duration) {
	for i := range a.streams {
		s := &a.streams[i]
		stream := streamStdout
		if i == 1 {
			stream = streamStderr
		}
		if p := &s.partial; p.open && (timeout == 0 || now.Sub(p.last) >= timeout) {
			a.emitPiece(s, p, stream, false)
		}
		if g := &s.group; g.open && (timeout == 0 || now.Sub(g.last) >= timeout) {
			a.emitPiece(s, g, stream, false)
		}
	}
}

// resume is the offset to read from after a restart: the first line not yet emitted of any
// stream, else read (the offset after the last line fed).
func (a *assembler) resume(read int64) int64 {
	r := read
	for i := range a.streams {
		s := &a.streams[i]
		for _, p := range []*piece{&s.partial, &s.group} {
			if p.open && p.start < r {
				r = p.start
			}
		}
	}
	return r
}

// take returns the records assembled so far and forgets them.
func (a *assembler) take() []Record {
	out := a.out
	a.out = nil
	return out
}

// reset forgets everything, keeping the configuration (the file was truncated or restored).
func (a *assembler) reset(done [2]int64) {
	a.streams = [2]streamState{{done: done[0]}, {done: done[1]}}
	a.out = nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
