package grpczstd

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/encoding"
)

// TestInstalledCompressorRoundTrips: after Install, gRPC's zstd compressor writes standard zstd
// frames (any zstd decoder reads them) with encoders reused from its pool, and still reads
// what any zstd encoder wrote.
func TestInstalledCompressorRoundTrips(t *testing.T) {
	require.True(t, Install())
	require.True(t, Install(), "installing twice is harmless")
	c := encoding.GetCompressor(Name)
	require.IsType(t, &compressor{}, c)

	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	for i := range 3 { // the second and third reuse a pooled encoder
		msg := []byte(strings.Repeat("a log line of a container, "+strings.Repeat("x", i), 50000))
		var buf bytes.Buffer
		w, err := c.Compress(&buf)
		require.NoError(t, err)
		_, err = w.Write(msg)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.Less(t, buf.Len(), len(msg)/10, "compressed")
		got, err := dec.DecodeAll(buf.Bytes(), nil)
		require.NoError(t, err)
		require.Equal(t, msg, got)

		other, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		r, err := c.Decompress(bytes.NewReader(other.EncodeAll(msg, nil)))
		require.NoError(t, err)
		got, err = io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, msg, got)
	}
}
