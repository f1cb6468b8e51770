package federateexporter

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-obs/vigil/exporters/federateexporter/internal/metadata"
	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/promlabels"
)

// Path is where the API port serves the series.
const Path = "/federate"

type federateExporter struct {
	cfg       *Config
	selectors [][]*labels.Matcher
	set       exporter.Settings
	tr        *promlabels.Translator
	cache     *promlabels.Cache[seriesRef] // the gauges' and sums' series seen before
	store     *store
	now       func() time.Time

	discarded metric.Int64Counter
	builder   *metadata.TelemetryBuilder

	stop chan struct{}
	wg   sync.WaitGroup
}

var (
	reasonMaxSeries = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "max_series")))
	reasonNative    = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "native_histogram")))
	reasonTranslate = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "untranslatable")))
)

func newExporter(set exporter.Settings, cfg *Config) (*federateExporter, error) {
	sels, err := cfg.selectors()
	if err != nil {
		return nil, err
	}
	e := &federateExporter{cfg: cfg, selectors: sels, set: set, tr: promlabels.NewTranslator(cfg.ExternalLabels),
		cache: promlabels.NewCache(newSeriesRef), store: newStore(cfg.MaxSeries), now: time.Now, stop: make(chan struct{})}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e.discarded, e.builder = tb.FederateDiscardedSamples, tb
	err = tb.RegisterFederateSeriesCallback(func(_ context.Context, o metric.Int64Observer) error {
		e.store.mu.Lock()
		n := e.store.n
		e.store.mu.Unlock()
		o.Observe(int64(n))
		return nil
	})
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return e, nil
}

func (e *federateExporter) start(_ context.Context, host component.Host) error {
	api, err := httpapiextension.Lookup(host, *e.cfg.HTTPAPI, "federate http_api")
	if err != nil {
		return err
	}
	if err := api.Handle("GET "+Path, http.HandlerFunc(e.serve)); err != nil {
		return err
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.cfg.ExpireAfter / 2)
		defer t.Stop()
		for {
			select {
			case <-e.stop:
				return
			case <-t.C:
				e.store.expire(e.now().Add(-e.cfg.ExpireAfter).UnixNano())
			}
		}
	}()
	return nil
}

func (e *federateExporter) shutdown(context.Context) error {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.wg.Wait()
	e.builder.Shutdown()
	return nil
}

// consume keeps the latest value of each series of md. What cannot be kept is counted; the batch
// is never refused (nothing is queued to be sent again).
func (e *federateExporter) consume(ctx context.Context, md pmetric.Metrics) error {
	app := &appender{store: e.store, now: e.now().UnixNano()}
	if err := e.cache.Translate(ctx, e.tr, md, app); err != nil {
		e.discarded.Add(ctx, 1, reasonTranslate)
		e.set.Logger.Warn("some metrics could not be translated for /federate", zap.Error(err))
	}
	if app.maxSeries > 0 {
		e.discarded.Add(ctx, int64(app.maxSeries), reasonMaxSeries)
	}
	if app.native > 0 {
		e.discarded.Add(ctx, int64(app.native), reasonNative)
	}
	return nil
}

// serve answers a scrape as Prometheus's /federate does: the latest sample of every series of
// the configured selectors that matches one of the request's match[] selectors (all of them
// without match[]), with its timestamp, as untyped metrics grouped by name (scrape it with
// honor_labels: true to keep the series' own job and instance).
func (e *federateExporter) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse the query: "+err.Error(), http.StatusBadRequest)
		return
	}
	reqSels, err := parseSelectors("match[]", r.Form["match[]"])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	samples := e.store.selectSamples(e.now().Add(-e.cfg.ExpireAfter).UnixNano(), e.selectors, reqSels)
	// By name first, so that each family is written once (a name sorts after labels such as "A").
	sort.Slice(samples, func(i, j int) bool {
		ni, nj := samples[i].labels.Get(model.MetricNameLabel), samples[j].labels.Get(model.MetricNameLabel)
		if ni != nj {
			return ni < nj
		}
		return labels.Compare(samples[i].labels, samples[j].labels) < 0
	})

	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	var fam *dto.MetricFamily
	flush := func() error {
		if fam == nil {
			return nil
		}
		return enc.Encode(fam)
	}
	for _, s := range samples {
		name := s.labels.Get(model.MetricNameLabel)
		if fam == nil || fam.GetName() != name {
			if err := flush(); err != nil {
				return // the client has gone
			}
			fam = &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_UNTYPED.Enum()}
		}
		m := &dto.Metric{Untyped: &dto.Untyped{Value: proto.Float64(s.v)}, TimestampMs: proto.Int64(s.t)}
		s.labels.Range(func(l labels.Label) {
			if l.Name != model.MetricNameLabel {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
			}
		})
		fam.Metric = append(fam.Metric, m)
	}
	if err := flush(); err != nil && !errors.Is(err, context.Canceled) {
		e.set.Logger.Debug("cannot write /federate answer", zap.Error(err))
	}
}
