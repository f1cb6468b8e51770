package containerlogsreceiver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestParseCRI(t *testing.T) {
	tests := []struct {
		name, raw    string
		stream, body string
		partial      bool
		time         string
	}{
		{"containerd full", "2023-10-06T00:17:10.113242941Z stdout F Example app listening at http://:::3000",
			"stdout", "Example app listening at http://:::3000", false, "2023-10-06T00:17:10.113242941Z"},
		{"containerd partial", "2019-01-01T01:00:00.000000001Z stderr P test\\ngood",
			"stderr", "test\\ngood", true, "2019-01-01T01:00:00.000000001Z"},
		{"CRI-O zone offset", "2024-03-05T10:11:12.123456789+00:00 stderr F I0305 10:11:12.123456       1 main.go:42] started",
			"stderr", "I0305 10:11:12.123456       1 main.go:42] started", false, "2024-03-05T10:11:12.123456789Z"},
		{"empty message", "2023-10-06T00:17:10.113242941Z stdout F", "stdout", "", false, "2023-10-06T00:17:10.113242941Z"},
		{"empty message with space", "2023-10-06T00:17:10.113242941Z stdout F ", "stdout", "", false, "2023-10-06T00:17:10.113242941Z"},
		{"tags with more flags", "2023-10-06T00:17:10.113242941Z stdout F:x keeps  two  spaces ",
			"stdout", "keeps  two  spaces ", false, "2023-10-06T00:17:10.113242941Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLine(FormatAuto, []byte(tt.raw))
			require.NoError(t, err)
			require.Equal(t, tt.stream, l.Stream)
			require.Equal(t, tt.body, string(l.Body))
			require.Equal(t, tt.partial, l.Partial)
			want, _ := time.Parse(time.RFC3339Nano, tt.time)
			require.True(t, want.Equal(l.Time), "time %s, want %s", l.Time, want)
		})
	}
}

func TestParseDocker(t *testing.T) {
	l, err := ParseLine(FormatAuto, []byte(`{"log":"npm info using node@v4.6.2\n","stream":"stdout","time":"2018-07-08T09:50:13.432453264Z"}`))
	require.NoError(t, err)
	require.Equal(t, "npm info using node@v4.6.2", string(l.Body))
	require.False(t, l.Partial)
	require.Equal(t, "stdout", l.Stream)
	require.Equal(t, 432453264, l.Time.Nanosecond())

	// Docker splits output lines at 16 KiB: all but the last entry lack the "\n".
	long := strings.Repeat("x", 16384)
	l, err = ParseDocker([]byte(`{"log":"` + long + `","stream":"stderr","time":"2018-07-08T09:50:13.432453264Z"}`))
	require.NoError(t, err)
	require.True(t, l.Partial)
	require.Equal(t, long, string(l.Body))

	l, err = ParseDocker([]byte(`{"log":"tab\there \u00e9\"q\"\n","stream":"stdout","time":"2018-07-08T09:50:13Z"}`))
	require.NoError(t, err)
	require.Equal(t, "tab\there é\"q\"", string(l.Body))
}

func TestParseBadLines(t *testing.T) {
	tests := []struct{ format, raw, want string }{
		{FormatCRI, "", "no space after the time"},
		{FormatCRI, "hello world", `time "hello" is not RFC 3339`},
		{FormatCRI, "2023-10-06T00:17:10Z stdout", "no tags after the stream"},
		{FormatCRI, "2023-10-06T00:17:10Z stdin F x", `stream "stdin" is neither stdout nor stderr`},
		{FormatCRI, "2023-10-06T00:17:10Z stdout X x", `tag "X" is neither P nor F`},
		{FormatDocker, `{"log":"x"`, "not a Docker json-file entry"},
		{FormatDocker, `{"stream":"stdout","time":"2018-07-08T09:50:13Z"}`, `without "log"`},
		{FormatDocker, `{"log":"x\n","stream":"stdout","time":"yesterday"}`, `time "yesterday" is not RFC 3339`},
		{FormatAuto, `{"log":"x\n","stream":"out","time":"2018-07-08T09:50:13Z"}`, `stream "out"`},
	}
	for _, tt := range tests {
		_, err := ParseLine(tt.format, []byte(tt.raw))
		require.ErrorIs(t, err, errFormat, tt.raw)
		require.ErrorContains(t, err, tt.want)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		stream, body string
		want         plog.SeverityNumber
		text         string
	}{
		{"stdout", "plain text with error inside", plog.SeverityNumberInfo, "INFO"},
		{"stderr", "plain text", plog.SeverityNumberError, "ERROR"},
		{"stderr", "I1019 23:13:24.378280       1 deployment.go:160] collected 9 deployments", plog.SeverityNumberInfo, "INFO"},
		{"stderr", "W1019 23:13:24.378280       1 reflector.go:424] watch ended", plog.SeverityNumberWarn, "WARNING"},
		{"stdout", "E1019 23:13:24.378280       1 server.go:12] failed", plog.SeverityNumberError, "ERROR"},
		{"stdout", `{"level":"warn","ts":1696551430.1,"msg":"slow request"}`, plog.SeverityNumberWarn, "WARN"},
		{"stderr", `{"time":"2024-01-01T00:00:00Z","severity":"DEBUG","message":"x"}`, plog.SeverityNumberDebug, "DEBUG"},
		{"stderr", `time="2024-01-01T00:00:00Z" level=info msg="listening"`, plog.SeverityNumberInfo, "INFO"},
		{"stdout", `ts=2024-01-01T00:00:00Z caller=main.go:1 level=error err="boom"`, plog.SeverityNumberError, "ERROR"},
		{"stdout", "2024-01-01 12:00:00.123 ERROR 1 --- [main] o.s.boot.SpringApplication : failed", plog.SeverityNumberError, "ERROR"},
		{"stdout", "[WARN] disk almost full", plog.SeverityNumberWarn, "WARN"},
		{"stderr", "[info] ready", plog.SeverityNumberInfo, "INFO"},
		{"stderr", "ERROR:root:division by zero", plog.SeverityNumberError, "ERROR"},
		{"stdout", "Exception in thread \"main\" java.lang.IllegalStateException", plog.SeverityNumberInfo, "INFO"},
		{"stdout", `{"msg":"user set loglevelx=debug"}`, plog.SeverityNumberInfo, "INFO"},
		{"stdout", "", plog.SeverityNumberInfo, "INFO"},
	}
	for _, tt := range tests {
		n, text := severity(tt.stream, []byte(tt.body))
		require.Equal(t, tt.want, n, tt.body)
		require.Equal(t, tt.text, text, tt.body)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"2023-10-06T00:17:10.113242941Z stdout F Example app listening",
		"2019-01-01T01:00:00.000000001Z stderr P test",
		`{"log":"npm info using node@v4.6.2\n","stream":"stdout","time":"2018-07-08T09:50:13.432453264Z"}`,
		`{"level":"warn","msg":"x"}`, "E0102 15:04:05.000000 1 x.go:1] y", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, format := range []string{FormatAuto, FormatCRI, FormatDocker} {
			l, err := ParseLine(format, []byte(raw))
			if err == nil && l.Stream != streamStdout && l.Stream != streamStderr {
				t.Fatalf("stream %q accepted", l.Stream)
			}
		}
		severity(streamStdout, []byte(raw))
		a := assembler{maxBytes: 64, start: multilineStart}
		a.feed(Line{Stream: streamStderr, Partial: len(raw)%2 == 0, Body: []byte(raw)}, 0, int64(len(raw)+1), false, time.Time{})
		a.flush(time.Time{}, 0)
		for _, r := range a.take() {
			if len(r.Body) > 64 && !r.Truncated {
				t.Fatalf("record of %d bytes over max_log_bytes 64", len(r.Body))
			}
		}
	})
}
