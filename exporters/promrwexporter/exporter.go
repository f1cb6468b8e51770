package promrwexporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/internal/promlabels"
)

type promrwExporter struct {
	cfg     *Config
	promote *prw.PromoteResourceAttributes // the identity labels
	set     exporter.Settings
	client  *http.Client
	logger  *zap.Logger
}

func newExporter(set exporter.Settings, cfg *Config) *promrwExporter {
	promote := make([]string, 0, len(promlabels.Identity))
	for _, m := range promlabels.Identity {
		promote = append(promote, m.Label)
	}
	return &promrwExporter{cfg: cfg, set: set, logger: set.Logger,
		promote: prw.NewPromoteResourceAttributes(config.OTLPConfig{PromoteResourceAttributes: promote})}
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

// push translates one batch and sends it as one remote-write request. A 4xx other than 429 is
// permanent (the batch is dropped and counted by exporterhelper); anything else is retried.
func (e *promrwExporter) push(ctx context.Context, md pmetric.Metrics) error {
	req, err := e.translate(ctx, md)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	if len(req.Timeseries) == 0 {
		return nil
	}
	raw, err := req.Marshal()
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("cannot encode remote-write request: %w", err))
	}
	return e.send(ctx, s2.EncodeSnappy(nil, raw)) // snappy's block format at s2's default speed
}

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
func (e *promrwExporter) translate(ctx context.Context, md pmetric.Metrics) (*prompb.WriteRequest, error) {
	saved := make([]pcommon.Map, 0, md.ResourceMetrics().Len())
	for _, rm := range md.ResourceMetrics().All() {
		attrs := rm.Resource().Attributes()
		orig := pcommon.NewMap()
		attrs.CopyTo(orig)
		saved = append(saved, orig)
		for _, m := range promlabels.Identity {
			attrs.Remove(m.Label)
			if v, ok := orig.Get(m.Attribute); ok {
				attrs.PutStr(m.Label, v.AsString())
				attrs.Remove(m.Attribute)
			}
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				forEachAttributes(m, dropIdentity)
			}
		}
	}
	defer func() {
		for i, rm := range md.ResourceMetrics().All() {
			saved[i].CopyTo(rm.Resource().Attributes())
		}
	}()
	app := newCollector()
	conv := prw.NewPrometheusConverter(app)
	settings := prw.Settings{
		AddMetricSuffixes:         true,
		ExternalLabels:            e.cfg.ExternalLabels,
		PromoteResourceAttributes: e.promote,
		LookbackDelta:             5 * time.Minute,
	}
	if _, err := conv.FromMetrics(ctx, md, settings); err != nil {
		e.logger.Warn("some metrics could not be translated for remote write", zap.Error(err))
	}
	return &prompb.WriteRequest{Timeseries: app.series}, nil
}

func dropIdentity(attrs pcommon.Map) {
	attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
		if _, ok := promlabels.AttributeOf(k); ok {
			return true
		}
		_, ok := promlabels.LabelOf(k)
		return ok
	})
}

func forEachAttributes(m pmetric.Metric, f func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			f(dp.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			f(dp.Attributes())
		}
	}
}

// collector is the storage.AppenderV2 that Prometheus's OTLP translation appends to: it
// gathers the samples of each series into remote-write time series.
type collector struct {
	refs   map[uint64]int
	series []prompb.TimeSeries
}

func newCollector() *collector { return &collector{refs: map[uint64]int{}} }

func (c *collector) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	hash := ls.Hash()
	i, ok := c.refs[hash]
	if !ok {
		i = len(c.series)
		c.refs[hash] = i
		c.series = append(c.series, prompb.TimeSeries{Labels: prompb.FromLabels(ls, nil)})
	}
	ts := &c.series[i]
	switch {
	case fh != nil:
		ts.Histograms = append(ts.Histograms, prompb.FromFloatHistogram(t, fh))
	case h != nil:
		ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(t, h))
	default:
		ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: v})
	}
	for _, ex := range opts.Exemplars {
		ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{Labels: prompb.FromLabels(ex.Labels, nil), Value: ex.Value, Timestamp: ex.Ts})
	}
	return storage.SeriesRef(hash), nil
}

func (*collector) Commit() error   { return nil }
func (*collector) Rollback() error { return nil }

var _ storage.AppenderV2 = (*collector)(nil)
