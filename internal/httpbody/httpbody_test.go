package httpbody

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	body := strings.Repeat("x", 5000)
	for _, tt := range []struct {
		name          string
		contentLength int64
		limit         int64
	}{{"exact", 5000, 1 << 20}, {"unknown", -1, 1 << 20}, {"understated", 10, 1 << 20}, {"overstated", 1 << 40, 6000}, {"no limit", 5000, 0}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(iotest.HalfReader(strings.NewReader(body)), tt.contentLength, tt.limit)
			require.NoError(t, err)
			require.Equal(t, body, string(got))
			require.LessOrEqual(t, cap(got), max(2*len(body), 8192), "a claimed Content-Length does not allocate beyond the limit")
		})
	}
	got, err := Read(strings.NewReader(body), 5000, 1<<20)
	require.NoError(t, err)
	require.Equal(t, 5001, cap(got), "an announced length: one allocation")
	_, err = Read(iotest.ErrReader(errors.New("boom")), 10, 100)
	require.ErrorContains(t, err, "boom")
}

func TestReadIntoReusesRoom(t *testing.T) {
	buf := make([]byte, 3, 6001)
	got, err := ReadInto(buf, strings.NewReader("hello"), 5, 1<<20)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	require.Same(t, &buf[:1][0], &got[:1][0], "a buffer with room is used, from its start")
	got, err = ReadInto(make([]byte, 0, 2), strings.NewReader(strings.Repeat("x", 5000)), 5000, 1<<20)
	require.NoError(t, err)
	require.Equal(t, 5001, cap(got), "one without room: allocated as Read does")
}

func TestReadPooled(t *testing.T) {
	for _, s := range []string{"hello", strings.Repeat("y", 7000), ""} {
		got, release, err := ReadPooled(strings.NewReader(s), int64(len(s)), 1<<20)
		require.NoError(t, err)
		require.Equal(t, s, string(got))
		release()
	}
	_, release, err := ReadPooled(iotest.ErrReader(errors.New("boom")), 10, 100)
	require.ErrorContains(t, err, "boom", "errors as in Read")
	release()
}

// TestReadPooledReserved: the memory of the body is reserved before it is allocated — at first
// from the announced length, then before each growth — and a refusal stops the read.
func TestReadPooledReserved(t *testing.T) {
	body := strings.Repeat("z", 5000)
	var asked []int64
	got, release, err := ReadPooledReserved(strings.NewReader(body), 5000, 1<<20, func(c int64) error {
		asked = append(asked, c)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, body, string(got))
	require.Equal(t, []int64{5001}, asked, "an announced length: one reservation")
	release()

	asked = nil
	got, release, err = ReadPooledReserved(iotest.HalfReader(strings.NewReader(body)), -1, 1<<20, func(c int64) error {
		asked = append(asked, c)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, body, string(got))
	require.LessOrEqual(t, int64(len(got)), asked[len(asked)-1], "no more read than reserved")
	require.IsIncreasing(t, asked)
	release()

	refused := errors.New("over the limit")
	_, release, err = ReadPooledReserved(strings.NewReader(body), -1, 1<<20, func(c int64) error {
		if c > 2048 {
			return refused
		}
		return nil
	})
	require.ErrorIs(t, err, refused, "an unknown length is refused once it grows past what may be held")
	release()
	_, release, err = ReadPooledReserved(strings.NewReader(body), 5000, 1<<20, func(int64) error { return refused })
	require.ErrorIs(t, err, refused)
	release()

	// Never more than the limit (+ 1, to see the end) is reserved; a longer body is refused.
	asked = nil
	got, release, err = ReadPooledReserved(strings.NewReader(body), -1, 5000, func(c int64) error {
		asked = append(asked, c)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, body, string(got))
	require.Equal(t, int64(5001), asked[len(asked)-1])
	release()
	_, release, err = ReadPooledReserved(strings.NewReader(body+"!"), -1, 5000, func(c int64) error { return nil })
	var tooLarge *http.MaxBytesError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, int64(5000), tooLarge.Limit)
	release()
}
