// Package grpczstd trims the memory of gRPC's zstd compression in vigil-agent. The collector
// registers a gRPC "zstd" compressor (configgrpc) whose pooled encoders compress with one block
// encoder per CPU (klauspost/compress's default concurrency) — each with its own history and
// match tables, held for as long as the encoder is pooled. Install keeps the collector's
// decompressor and replaces its encoders by ones with a single block encoder, the same 512 KiB
// window and the lower-memory tables: what a node's agent, sending one request per queue
// consumer, can use (benchmarks/RESULTS.md, containerlogs heap profiles).
package grpczstd

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	_ "go.opentelemetry.io/collector/config/configgrpc" // registers the collector's zstd compressor first
	"google.golang.org/grpc/encoding"
)

// Name is gRPC's content-coding of zstd.
const Name = "zstd"

var encoderOptions = []zstd.EOption{
	zstd.WithWindowSize(512 << 10), // as the collector's: larger than OTLP requests need
	zstd.WithEncoderConcurrency(1), // one block encoder: compression runs in the sending goroutine
	zstd.WithLowerEncoderMem(true),
}

// Install replaces the registered gRPC zstd compressor's encoders (decompression stays the
// collector's). Call it before any gRPC client or server starts (gRPC's registry is not
// safe for concurrent use); it reports whether a zstd compressor was registered to wrap.
func Install() bool {
	orig := encoding.GetCompressor(Name)
	if orig == nil {
		return false
	}
	if _, done := orig.(*compressor); done {
		return true
	}
	encoding.RegisterCompressor(&compressor{decompressor: orig})
	return true
}

type compressor struct {
	decompressor encoding.Compressor
	encoders     sync.Pool
}

func (c *compressor) Name() string { return Name }

// Compress returns a writer that compresses into w; Close flushes and returns the encoder to
// the pool.
func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	enc, ok := c.encoders.Get().(*zstd.Encoder)
	if !ok {
		var err error
		if enc, err = zstd.NewWriter(w, encoderOptions...); err != nil {
			return nil, err
		}
	} else {
		enc.Reset(w)
	}
	return &encoder{Encoder: enc, pool: &c.encoders}, nil
}

func (c *compressor) Decompress(r io.Reader) (io.Reader, error) { return c.decompressor.Decompress(r) }

type encoder struct {
	*zstd.Encoder
	pool *sync.Pool
	once sync.Once
}

func (e *encoder) Close() error {
	err := e.Encoder.Close()
	e.once.Do(func() {
		e.Encoder.Reset(nil) // drop the destination before pooling
		e.pool.Put(e.Encoder)
	})
	return err
}
