package containerlogsreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Streams of a container's output.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
)

// Formats of container log files (format in the config).
const (
	FormatAuto   = "auto"   // CRI unless the line starts with '{'
	FormatCRI    = "cri"    // containerd, CRI-O
	FormatDocker = "docker" // Docker's json-file driver
)

// Line is one line of a container log file. Body is the container's output without its line
// end; for CRI it points into the line parsed, for Docker it is a fresh copy.
type Line struct {
	Time    time.Time
	Stream  string // stdout or stderr
	Partial bool   // more of the same output line follows (CRI "P", Docker: no trailing \n)
	Body    []byte
}

// errFormat is wrapped by every parse error.
var errFormat = errors.New("malformed container log line")

// ParseLine parses raw (without its trailing newline) in the given format.
func ParseLine(format string, raw []byte) (Line, error) {
	switch format {
	case FormatCRI:
		return ParseCRI(raw)
	case FormatDocker:
		return ParseDocker(raw)
	default:
		if len(raw) > 0 && raw[0] == '{' {
			return ParseDocker(raw)
		}
		return ParseCRI(raw)
	}
}

// ParseCRI parses a line of the CRI log format: "<RFC3339Nano time> <stdout|stderr> <tags>
// <message>", where the first of the ':'-separated tags is P (partial) or F (full). The time may
// carry a zone offset (CRI-O writes +00:00). The message may be empty.
func ParseCRI(raw []byte) (Line, error) {
	ts, rest, ok := bytes.Cut(raw, []byte{' '})
	if !ok {
		return Line{}, fmt.Errorf("%w: no space after the time (CRI format: <time> <stream> <P|F> <message>)", errFormat)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Line{}, fmt.Errorf("%w: time %q is not RFC 3339", errFormat, clip(ts))
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Line{}, fmt.Errorf("%w: no tags after the stream", errFormat)
	}
	s, err := streamOf(stream)
	if err != nil {
		return Line{}, err
	}
	tags, msg, _ := bytes.Cut(rest, []byte{' '})
	first, _, _ := bytes.Cut(tags, []byte{':'})
	var partial bool
	switch string(first) {
	case "F":
	case "P":
		partial = true
	default:
		return Line{}, fmt.Errorf("%w: tag %q is neither P nor F", errFormat, clip(tags))
	}
	return Line{Time: t, Stream: s, Partial: partial, Body: msg}, nil
}

type dockerLine struct {
	Log    *string `json:"log"`
	Stream string  `json:"stream"`
	Time   string  `json:"time"`
}

// ParseDocker parses a line of Docker's json-file log driver:
// {"log":"...\n","stream":"stdout","time":"<RFC3339Nano>"}. Docker splits output lines longer
// than 16 KiB into several entries, all but the last without the trailing "\n".
func ParseDocker(raw []byte) (Line, error) {
	var d dockerLine
	if err := json.Unmarshal(raw, &d); err != nil {
		return Line{}, fmt.Errorf("%w: not a Docker json-file entry: %v", errFormat, err)
	}
	if d.Log == nil {
		return Line{}, fmt.Errorf("%w: Docker json-file entry without \"log\"", errFormat)
	}
	s, err := streamOf([]byte(d.Stream))
	if err != nil {
		return Line{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, d.Time)
	if err != nil {
		return Line{}, fmt.Errorf("%w: time %q is not RFC 3339", errFormat, clip([]byte(d.Time)))
	}
	body := []byte(*d.Log)
	partial := true
	if n := len(body); n > 0 && body[n-1] == '\n' {
		body, partial = body[:n-1], false
	}
	return Line{Time: t, Stream: s, Partial: partial, Body: body}, nil
}

func streamOf(b []byte) (string, error) {
	switch string(b) {
	case streamStdout:
		return streamStdout, nil
	case streamStderr:
		return streamStderr, nil
	}
	return "", fmt.Errorf("%w: stream %q is neither stdout nor stderr", errFormat, clip(b))
}

// clip shortens what an error message quotes of the input.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
