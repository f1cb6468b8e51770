package containerlogsreceiver

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// multilineStart starts a message at a line that does not begin with white space or a
// continuation of a Java, Python or Go stack trace.
var multilineStart = regexp.MustCompile(`^[^\s]`)

// feedFile parses raw lines as a reader would and feeds them, returning the offset after them.
func feedFile(t *testing.T, a *assembler, lines []string, from int64) int64 {
	t.Helper()
	off := from
	for _, raw := range lines {
		l, err := ParseLine(FormatAuto, []byte(raw))
		require.NoError(t, err, raw)
		end := off + int64(len(raw)) + 1
		if !a.skip(l.Stream, off) {
			a.feed(l, off, end, false, time.Unix(0, 0))
		}
		off = end
	}
	return off
}

func bodies(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Stream+":"+string(r.Body))
	}
	return out
}

func TestAssemblePartialLines(t *testing.T) {
	a := &assembler{maxBytes: 1 << 20}
	feedFile(t, a, []string{
		"2023-10-06T00:17:10.000000001Z stdout P hello ",
		"2023-10-06T00:17:10.000000002Z stderr F interleaved",
		"2023-10-06T00:17:10.000000003Z stdout P big ",
		"2023-10-06T00:17:10.000000004Z stdout F world",
		`{"log":"docker ","stream":"stdout","time":"2018-07-08T09:50:13.432453264Z"}`,
		`{"log":"joined\n","stream":"stdout","time":"2018-07-08T09:50:13.432453265Z"}`,
	}, 0)
	rs := a.take()
	require.Equal(t, []string{"stderr:interleaved", "stdout:hello big world", "stdout:docker joined"}, bodies(rs))
	require.Equal(t, 1, rs[1].Time.Nanosecond(), "a joined line has the time of its first part")
	require.Equal(t, int64(0), rs[1].Offset)
}

// A multi-megabyte output line, as runtimes write it (16 KiB parts), is joined whole when
// max_log_bytes allows, and split between parts (never truncated) when it does not.
func TestAssembleMultiMegabyteLine(t *testing.T) {
	const part = 16 << 10
	var lines []string
	var want strings.Builder
	for i := range 200 { // 3.2 MiB
		chunk := strings.Repeat(string(rune('a'+i%26)), part)
		want.WriteString(chunk)
		tag := "P"
		if i == 199 {
			tag = "F"
		}
		lines = append(lines, "2023-10-06T00:17:10.000000001Z stdout "+tag+" "+chunk)
	}
	a := &assembler{maxBytes: 4 << 20}
	feedFile(t, a, lines, 0)
	rs := a.take()
	require.Len(t, rs, 1)
	require.Equal(t, want.String(), string(rs[0].Body))

	a = &assembler{maxBytes: 1 << 20}
	feedFile(t, a, lines, 0)
	rs = a.take()
	require.Len(t, rs, 4)
	var got strings.Builder
	for i, r := range rs {
		require.LessOrEqual(t, len(r.Body), 1<<20)
		require.Equal(t, i < 3, r.Split)
		got.Write(r.Body)
	}
	require.Equal(t, want.String(), got.String())
	require.Equal(t, 3, a.split)
}

func TestAssembleTruncatesOneLongLine(t *testing.T) {
	a := &assembler{maxBytes: 10}
	feedFile(t, a, []string{"2023-10-06T00:17:10Z stdout F 0123456789abcdef", "2023-10-06T00:17:10Z stdout F ok"}, 0)
	rs := a.take()
	require.Equal(t, []string{"stdout:0123456789", "stdout:ok"}, bodies(rs))
	require.True(t, rs[0].Truncated)
	require.False(t, rs[1].Truncated)
}

func TestAssembleMultiline(t *testing.T) {
	java := []string{
		`Exception in thread "main" java.lang.IllegalStateException: boom`,
		`	at com.example.App.run(App.java:42)`,
		`	at com.example.App.main(App.java:7)`,
		`Caused by: java.io.IOException: closed`,
	}
	python := []string{
		`Traceback (most recent call last):`,
		`  File "/app/main.py", line 3, in <module>`,
		`    1/0`,
	}
	var lines []string
	for _, l := range append(append([]string{"start"}, java...), python...) {
		lines = append(lines, "2023-10-06T00:17:10Z stderr F "+l)
	}
	lines = append(lines, "2023-10-06T00:17:11Z stdout F other stream")
	// The start pattern: a line that is neither indented nor "Caused by:".
	a := &assembler{maxBytes: 1 << 20, start: regexp.MustCompile(`^[^\s]`)}
	a.start = regexp.MustCompile(`^(?:[^\sC]|C[^a])`)
	end := feedFile(t, a, lines, 0)
	rs := a.take()
	require.Equal(t, []string{"stderr:start", "stderr:" + strings.Join(java, "\n")}, bodies(rs))
	// The Python traceback and the stdout line wait for their next start line or the timeout.
	require.Less(t, a.resume(end), end)
	a.flush(time.Unix(1, 0), 5*time.Second)
	require.Empty(t, a.take(), "flushed before flush_timeout")
	a.flush(time.Unix(10, 0), 5*time.Second)
	require.ElementsMatch(t, []string{"stderr:" + strings.Join(python, "\n"), "stdout:other stream"}, bodies(a.take()))
	require.Equal(t, end, a.resume(end))
}

// After a restart at resume() with the streams' done offsets, lines of a stream that were
// emitted are skipped and the rest are assembled again: every record once.
func TestAssembleResumeEveryRecordOnce(t *testing.T) {
	var lines []string
	for i := range 60 {
		stream, tag := "stdout", "F"
		if i%3 == 0 {
			stream = "stderr"
		}
		if i%5 == 1 {
			tag = "P"
		}
		lines = append(lines, fmt.Sprintf("2023-10-06T00:17:10Z %s %s l%d ", stream, tag, i))
	}
	lines = append(lines, "2023-10-06T00:17:10Z stdout F end", "2023-10-06T00:17:10Z stderr F end")
	all := &assembler{maxBytes: 1 << 20}
	feedFile(t, all, lines, 0)
	want := bodies(all.take())
	for cut := range len(lines) {
		a := &assembler{maxBytes: 1 << 20}
		end := feedFile(t, a, lines[:cut], 0)
		got := bodies(a.take())
		from := a.resume(end)
		b := &assembler{maxBytes: 1 << 20}
		b.reset([2]int64{a.streams[0].done, a.streams[1].done})
		// Re-read from the resume offset: find the line that starts there.
		off, i := int64(0), 0
		for off < from {
			off += int64(len(lines[i])) + 1
			i++
		}
		require.Equal(t, from, off, "resume offset is a line start")
		feedFile(t, b, lines[i:], off)
		got = append(got, bodies(b.take())...)
		require.ElementsMatch(t, want, got, "cut after %d lines", cut)
	}
}
