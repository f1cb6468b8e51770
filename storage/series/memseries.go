package series

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// Chunk cutting. A series' samples are held in Prometheus's XOR chunks (tsdb/chunkenc): closed
// chunks, immutable and trimmed to their exact size, and one head chunk that chunkenc's XOR
// appender appends samples to. The head chunk is cut when it spans a quarter of the series' window
// (and holds at least minChunkSamples), or holds maxChunkSamples. A closed chunk is dropped as a whole once its newest
// sample is older than the window, so a series holds at most its window plus one chunk's span.
const (
	minChunkSamples = 8
	maxChunkSamples = 1024
)

// memSeries is one series. Its fields are guarded by Store.mu.
type memSeries struct {
	lset labels.Labels
	next *memSeries // the next series whose labels have the same hash
	need *needSet   // window and owners, shared by the series that the same needs select

	lastT int64 // the newest sample; math.MinInt64 before the first one
	lastF float64

	headMint int64             // the oldest sample of the head chunk
	oldest   int64             // the newest sample of the first closed chunk, so that trim reads closed only to drop it
	closed   []byte            // closed chunks, oldest first (see nextClosed); never modified, only replaced or resliced
	head     chunkenc.XORChunk // no bytes (nil) before the first sample
	app      chunkenc.Appender // appends to head; nil before the first sample
	ex       *exemplars        // the newest exemplars with a trace ID; nil before the first
}

// nextClosed splits the first closed chunk off b: each is its newest timestamp (8 bytes, little
// endian), its length (uvarint) and the XOR chunk.
func nextClosed(b []byte) (maxt int64, data, rest []byte) {
	maxt = int64(binary.LittleEndian.Uint64(b))
	n, k := binary.Uvarint(b[8:])
	data = b[8+k : 8+k+int(n)]
	return maxt, data, b[8+k+int(n):]
}

func newMemSeries(l labels.Labels, need *needSet) *memSeries {
	return &memSeries{lset: l, need: need, lastT: math.MinInt64}
}

func (ms *memSeries) empty() bool { return ms.app == nil }

// startHead makes the head an empty chunk and takes an appender for it. The chunk starts with room
// for 16 bytes rather than chunkenc.NewXORChunk's 128: most head chunks here hold a few dozen
// bytes when they are cut; the appender grows it as needed (append, doubling).
func (ms *memSeries) startHead(t int64) {
	ms.head.Reset(make([]byte, 2, 16)) // an empty chunk is its 2-byte sample count, 0
	app, err := ms.head.Appender()
	if err != nil {
		// chunkenc returns an error only when it cannot read existing samples; the chunk is empty.
		panic(fmt.Sprintf("series: cannot start a head chunk: %v", err))
	}
	ms.app = app
	ms.headMint = t
}

// add appends a sample newer than lastT and drops the chunks that fell out of the window. It
// returns the number of samples dropped.
func (ms *memSeries) add(t int64, f float64) (dropped int) {
	if ms.empty() {
		ms.startHead(t)
	} else if n := ms.head.NumSamples(); n >= maxChunkSamples || (n >= minChunkSamples && t-ms.headMint >= ms.need.window/4) {
		dropped = ms.cut(t - ms.need.window)
		ms.startHead(t)
	}
	ms.app.Append(0, t, f)
	ms.lastT, ms.lastF = t, f
	return dropped + ms.trim(t-ms.need.window)
}

// cut closes the head chunk: closed is replaced by a new buffer of exactly the closed chunks
// not older than mint and the head. It returns the number of samples dropped.
func (ms *memSeries) cut(mint int64) (dropped int) {
	dropped = ms.trim(mint)
	head := ms.head.Bytes()
	buf := make([]byte, len(ms.closed), len(ms.closed)+8+binary.MaxVarintLen16+len(head))
	copy(buf, ms.closed)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(ms.lastT))
	buf = binary.AppendUvarint(buf, uint64(len(head)))
	buf = append(buf, head...)
	ms.closed = buf
	ms.oldest, _, _ = nextClosed(buf)
	return dropped
}

// trim drops the closed chunks whose samples are all older than mint, and returns the number
// of samples dropped.
func (ms *memSeries) trim(mint int64) (dropped int) {
	if len(ms.closed) == 0 || ms.oldest >= mint {
		return 0
	}
	rest := ms.closed
	for len(rest) > 0 {
		maxt, data, r := nextClosed(rest)
		if maxt >= mint {
			ms.oldest = maxt
			break
		}
		dropped += int(binary.BigEndian.Uint16(data))
		rest = r
	}
	if len(rest) == 0 {
		rest = nil
	}
	ms.closed = rest
	return dropped
}

// samples returns the number of samples held (some of the oldest chunk may be outside the window).
func (ms *memSeries) samples() int {
	if ms.empty() {
		return 0
	}
	n := ms.head.NumSamples()
	for rest := ms.closed; len(rest) > 0; {
		var data []byte
		_, data, rest = nextClosed(rest)
		n += int(binary.BigEndian.Uint16(data))
	}
	return n
}

// snapshot returns the series' samples in [mint, maxt] within the window: the closed chunks that
// lie inside, the head copied, and the samples inside of the chunks at either end decoded; nil
// when no sample is there.
func (ms *memSeries) snapshot(mint, maxt int64) *snapshot {
	if ms.empty() {
		return nil
	}
	mint = max(mint, ms.lastT-ms.need.window)
	if mint > maxt {
		return nil
	}
	type chunk struct {
		data []byte
		maxt int64
	}
	var chunks []chunk
	needHead := true
	for rest := ms.closed; len(rest) > 0; {
		cmaxt, data, r := nextClosed(rest)
		rest = r
		if cmaxt < mint {
			continue
		}
		chunks = append(chunks, chunk{data, cmaxt})
		if cmaxt >= maxt {
			needHead = false
			break
		}
	}
	if needHead {
		chunks = append(chunks, chunk{bytes.Clone(ms.head.Bytes()), ms.lastT})
	}
	// Only the first chunk can start before mint, and only the last end after maxt: those two
	// are decoded to the samples inside when they reach out.
	s := &snapshot{lset: ms.lset}
	for i, c := range chunks {
		if i > 0 && i < len(chunks)-1 {
			s.parts = append(s.parts, xorChunk(c.data))
			continue
		}
		inside, all := samplesIn(c.data, c.maxt, mint, maxt)
		switch {
		case all:
			s.parts = append(s.parts, xorChunk(c.data))
		case len(inside) > 0:
			s.parts = append(s.parts, inside)
		}
	}
	if len(s.parts) == 0 {
		return nil
	}
	return s
}

// samplesIn returns the samples in [mint, maxt] of the XOR chunk whose newest sample is at
// chunkMaxt, or all == true (and no copy) when every sample is.
func samplesIn(data []byte, chunkMaxt, mint, maxt int64) (inside points, all bool) {
	it := xorChunk(data).Iterator(nil)
	first := true
	for it.Next() == chunkenc.ValFloat {
		t, f := it.At()
		if first && t >= mint && chunkMaxt <= maxt {
			return nil, true
		}
		first = false
		switch {
		case t < mint:
			continue
		case t > maxt:
			return inside, false
		}
		inside = append(inside, point{t, f})
	}
	return inside, false
}

// snapshot is the samples of one series in [mint, maxt] at the time of a Select: XOR chunks and
// decoded samples, oldest first, not overlapping.
type snapshot struct {
	lset  labels.Labels
	parts []chunkenc.Iterable
}

func (s *snapshot) Labels() labels.Labels { return s.lset }

func (s *snapshot) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.parts) == 1 {
		return s.parts[0].Iterator(it)
	}
	// Prometheus's chain iterator reads the parts one after the other (they do not overlap).
	return storage.ChainSampleIteratorFromIterables(it, s.parts)
}

// xorChunk is XOR chunk data as a chunkenc.Iterable.
type xorChunk []byte

func (c xorChunk) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	var x chunkenc.XORChunk
	x.Reset(c)
	return x.Iterator(it)
}

// points are decoded samples, iterated by Prometheus's list iterator.
type points []point

type point struct {
	t int64
	f float64
}

func (p points) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeriesIterator(p)
}
func (p points) Get(i int) chunks.Sample { return &p[i] }
func (p points) Len() int                { return len(p) }

func (p *point) T() int64                    { return p.t }
func (*point) ST() int64                     { return 0 }
func (p *point) F() float64                  { return p.f }
func (*point) H() *histogram.Histogram       { return nil }
func (*point) FH() *histogram.FloatHistogram { return nil }
func (*point) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p *point) Copy() chunks.Sample         { c := *p; return &c }
