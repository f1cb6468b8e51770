package promrwexporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil-obs/vigil/internal/promlabels"
)

type promrwExporter struct {
	cfg    *Config
	tr     *promlabels.Translator // identity labels, external labels
	set    exporter.Settings
	cache  *promlabels.Cache[cachedSeries] // the gauges' and sums' series seen before
	client *http.Client
	logger *zap.Logger
}

func newExporter(set exporter.Settings, cfg *Config) *promrwExporter {
	return &promrwExporter{cfg: cfg, set: set, logger: set.Logger, cache: promlabels.NewCache(newCachedSeries),
		tr: promlabels.NewTranslator(cfg.ExternalLabels)}
}

func (e *promrwExporter) start(ctx context.Context, host component.Host) error {
	c, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("cannot build the remote-write client: %w", err)
	}
	e.client = c
	return nil
}

func (e *promrwExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	return nil
}

// send posts one remote-write request body (snappy). A 4xx other than 429 is permanent (the
// request is dropped and counted by exporterhelper); anything else is retried.
func (e *promrwExporter) send(ctx context.Context, body []byte) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	hreq.Header.Set("User-Agent", "vigil")
	resp, err := e.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("cannot send remote-write request to %s: %w", e.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("remote write to %s answered %s: %s", e.cfg.Endpoint, resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
		return consumererror.NewPermanent(err)
	}
	return err
}

// translate renames the identity (promlabels) of the batch's resources, then translates it as
// Prometheus translates OTLP. Data point attributes that name an identity label are dropped:
// the resource's identity (enforced by clusteridentity) is the only one a series carries.
//
// The exporter declares that it mutates its input (the pipeline hands it a batch of its own,
// copying only when another consumer shares it), so the batch is changed in place instead of
// copied whole: the resources' attributes are put back as they were before translate returns,
// and the identity attributes dropped from data points are dropped for good, so that a retry of
// the same batch translates to the same request.
func (e *promrwExporter) translate(ctx context.Context, md pmetric.Metrics) (*collector, error) {
	return e.translateAs(ctx, md, true)
}

// translateWithout is translate with Prometheus's translator alone: the reference the label
// cache's tests compare with.
func (e *promrwExporter) translateWithout(ctx context.Context, md pmetric.Metrics) (*collector, error) {
	return e.translateAs(ctx, md, false)
}

func (e *promrwExporter) translateAs(ctx context.Context, md pmetric.Metrics, cached bool) (*collector, error) {
	app := newCollector()
	var err error
	if cached {
		app.reserve(md.DataPointCount())
		err = e.cache.Translate(ctx, e.tr, md, app)
	} else {
		err = e.tr.Translate(ctx, md, app)
	}
	if err != nil {
		e.logger.Warn("some metrics could not be translated for remote write", zap.Error(err))
	}
	return app, nil
}

// cachedSeries is a series as the label cache keeps it: its labels, their hash (the collector's
// key) and their encoding in a remote-write TimeSeries (copied into each request as it is).
type cachedSeries struct {
	ls   labels.Labels
	hash uint64
	enc  []byte
}

func newCachedSeries(ls labels.Labels) cachedSeries {
	return cachedSeries{ls: ls, hash: ls.Hash(), enc: encodeLabels(ls)}
}

// collector is the storage.AppenderV2 that Prometheus's OTLP translation appends to: it
// gathers the samples of each series, and marshal encodes them as a prometheus.WriteRequest
// straight from the labels (prompb.FromLabels would copy every series' labels into a slice of
// its own first).
type collector struct {
	refs   map[uint64]int
	series []series
	first  []sample // the series' first samples, allocated together
}

// series is one remote-write time series: its labels (and their encoding, when the label cache
// has it), its samples, and the rest as prompb has them.
type series struct {
	labels     labels.Labels
	enc        []byte // the labels as encodeLabels writes them; nil: not encoded yet
	samples    []sample
	exemplars  []prompb.Exemplar
	histograms []prompb.Histogram
}

// sample is a float sample (prompb.Sample without its protobuf bookkeeping: no pointer for the
// garbage collector to scan).
type sample struct {
	t int64
	v float64
}

func newCollector() *collector { return &collector{refs: map[uint64]int{}} }

// reserve makes room for n more series.
func (c *collector) reserve(n int) {
	if len(c.series) == 0 {
		c.refs = make(map[uint64]int, n)
		c.series = make([]series, 0, n)
		c.first = make([]sample, 0, n)
	}
}

// ref returns the series of ls (hash: ls.Hash(); enc: its encoding, or nil), added if new.
func (c *collector) ref(ls labels.Labels, hash uint64, enc []byte) *series {
	i, ok := c.refs[hash]
	if !ok {
		i = len(c.series)
		c.refs[hash] = i
		c.series = append(c.series, series{labels: ls, enc: enc})
	}
	return &c.series[i]
}

// add appends a float sample to the series of ls and returns the series.
func (c *collector) add(ls labels.Labels, hash uint64, enc []byte, t int64, v float64) *series {
	ts := c.ref(ls, hash, enc)
	if ts.samples == nil && len(c.first) < cap(c.first) {
		c.first = append(c.first, sample{t, v})
		n := len(c.first)
		ts.samples = c.first[n-1 : n : n] // a second sample moves the series' samples out
		return ts
	}
	ts.samples = append(ts.samples, sample{t, v})
	return ts
}

func (c *collector) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	hash := ls.Hash()
	var ts *series
	switch {
	case fh != nil:
		ts = c.ref(ls, hash, nil)
		ts.histograms = append(ts.histograms, prompb.FromFloatHistogram(t, fh))
	case h != nil:
		ts = c.ref(ls, hash, nil)
		ts.histograms = append(ts.histograms, prompb.FromIntHistogram(t, h))
	default:
		ts = c.add(ls, hash, nil, t, v)
	}
	for _, ex := range opts.Exemplars {
		ts.exemplars = append(ts.exemplars, prompb.Exemplar{Labels: prompb.FromLabels(ex.Labels, nil), Value: ex.Value, Timestamp: ex.Ts})
	}
	return storage.SeriesRef(hash), nil
}

// AppendCached appends a float sample of a series from the label cache.
func (c *collector) AppendCached(s *cachedSeries, t int64, v float64) {
	c.add(s.ls, s.hash, s.enc, t, v)
}

func (*collector) Commit() error   { return nil }
func (*collector) Rollback() error { return nil }

var _ promlabels.CachedAppender[cachedSeries] = (*collector)(nil)

// marshal encodes the series as prompb.WriteRequest.Marshal does (same fields, same order, zero
// values left out): field 1 of the request, each series with its labels (1), samples (2),
// exemplars (3) and histograms (4). The buffer is sized first and written in place: the labels
// are written from inside labels.Range, where appending to a captured slice would store the
// slice through a pointer (a GC write barrier per label) and could reallocate.
func (c *collector) marshal() ([]byte, error) { return c.appendTo(nil) }

// appendTo is marshal into dst's memory (dst's contents are not kept).
func (c *collector) appendTo(dst []byte) ([]byte, error) {
	size := 0
	sizes := make([]int, len(c.series))
	for i := range c.series {
		sizes[i] = c.series[i].size()
		size += 1 + protowire.SizeBytes(sizes[i])
	}
	buf := slices.Grow(dst[:0], size)[:size]
	pos := 0
	for i := range c.series {
		s := &c.series[i]
		b := protowire.AppendTag(buf[pos:pos], 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i]))
		pos += len(b)
		if s.enc != nil {
			pos += copy(buf[pos:], s.enc)
		} else {
			s.labels.Range(func(l labels.Label) { pos = putLabel(buf, pos, l) })
		}
		b = buf[pos:pos]
		for _, smp := range s.samples {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(sampleSize(smp)))
			if smp.v != 0 {
				b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
				b = protowire.AppendFixed64(b, math.Float64bits(smp.v))
			}
			if smp.t != 0 {
				b = protowire.AppendTag(b, 2, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(smp.t))
			}
		}
		var err error
		for j := range s.exemplars {
			if b, err = appendMessage(b, 3, &s.exemplars[j]); err != nil {
				return nil, err
			}
		}
		for j := range s.histograms {
			if b, err = appendMessage(b, 4, &s.histograms[j]); err != nil {
				return nil, err
			}
		}
		pos += len(b)
	}
	if pos != size {
		return nil, fmt.Errorf("remote-write request of %d bytes, %d expected", pos, size)
	}
	return buf, nil
}

// putLabel writes the Label message of l as field 1 of a TimeSeries at buf[pos:] (sized for it)
// and returns the position after it.
func putLabel(buf []byte, pos int, l labels.Label) int {
	b := protowire.AppendTag(buf[pos:pos], 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(labelSize(l)))
	if l.Name != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, l.Name)
	}
	if l.Value != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, l.Value)
	}
	return pos + len(b)
}

// size is the encoded size of the series' TimeSeries message.
func (s *series) size() int {
	n := len(s.enc)
	if s.enc == nil {
		n = labelsSize(s.labels)
	}
	for _, smp := range s.samples {
		n += 1 + protowire.SizeBytes(sampleSize(smp))
	}
	for j := range s.exemplars {
		n += 1 + protowire.SizeBytes(s.exemplars[j].Size())
	}
	for j := range s.histograms {
		n += 1 + protowire.SizeBytes(s.histograms[j].Size())
	}
	return n
}

// labelsSize is the encoded size of the labels of a TimeSeries.
func labelsSize(ls labels.Labels) int {
	n := 0
	ls.Range(func(l labels.Label) { n += 1 + protowire.SizeBytes(labelSize(l)) })
	return n
}

// encodeLabels encodes ls as the labels of a TimeSeries (field 1, repeated), as marshal writes
// them.
func encodeLabels(ls labels.Labels) []byte {
	buf := make([]byte, labelsSize(ls))
	pos := 0
	ls.Range(func(l labels.Label) { pos = putLabel(buf, pos, l) })
	return buf
}

func labelSize(l labels.Label) int {
	n := 0
	if l.Name != "" {
		n += 1 + protowire.SizeBytes(len(l.Name))
	}
	if l.Value != "" {
		n += 1 + protowire.SizeBytes(len(l.Value))
	}
	return n
}

func sampleSize(s sample) int {
	n := 0
	if s.v != 0 {
		n += 1 + 8
	}
	if s.t != 0 {
		n += 1 + protowire.SizeVarint(uint64(s.t))
	}
	return n
}

// appendMessage appends field num holding m, encoded by its generated marshaller.
func appendMessage(buf []byte, num protowire.Number, m interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}) ([]byte, error) {
	n := m.Size()
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(n))
	start := len(buf)
	buf = slices.Grow(buf, n)[:start+n]
	if _, err := m.MarshalToSizedBuffer(buf[start:]); err != nil {
		return nil, err
	}
	return buf, nil
}
