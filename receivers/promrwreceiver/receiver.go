package promrwreceiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/httpbody"
	"github.com/vigil-obs/vigil/internal/promlabels"
	"github.com/vigil-obs/vigil/receivers/promrwreceiver/internal/metadata"
	"github.com/vigil-obs/vigil/storage/wal"
)

// Reasons a whole request is refused (label "reason" of vigil_promrw_rejected_requests_total).
const (
	reqMethod      = "method_not_allowed"
	reqContentType = "unsupported_content_type"
	reqTooLarge    = "body_too_large"
	reqReadError   = "read_error"
	reqMalformed   = "malformed_request"
	reqNoCluster   = "no_cluster"
	reqRefused     = "pipeline_refused"
	reqBusy        = "pipeline_busy"
	reqPartial     = "series_rejected" // some series were rejected; the rest were stored
)

// refusalLogInterval: refusals are logged once per interval; every one is counted, by reason, in
// vigil_promrw_rejected_requests_total and vigil_promrw_discarded_samples_total.
const refusalLogInterval = 10 * time.Second

type promrwReceiver struct {
	cfg       *Config
	set       receiver.Settings
	next      consumer.Metrics
	obs       *receiverhelper.ObsReport
	logger    *zap.Logger
	refusals  *zap.Logger // one refusal a refusalLogInterval: a misconfigured sender retries without end
	requests  metric.Int64Counter
	discarded metric.Int64Counter

	server *httpapiextension.RunningServer
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) (*promrwReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set})
	if err != nil {
		return nil, err
	}
	r := &promrwReceiver{cfg: cfg, set: set, next: next, obs: obs, logger: set.Logger,
		refusals: set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, refusalLogInterval, 1, 0)
		}))}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r.requests, r.discarded = tb.PromrwRejectedRequests, tb.PromrwDiscardedSamples
	return r, nil
}

// Start listens and serves in the background; it returns once the listener is bound.
func (r *promrwReceiver) Start(ctx context.Context, host component.Host) error {
	mux := http.NewServeMux()
	mux.Handle(r.cfg.Path, r)
	srv, err := httpapiextension.Serve(ctx, &r.cfg.ServerConfig, host, r.set.TelemetrySettings, mux, "promrw endpoint")
	r.server = srv
	return err
}

// Shutdown stops intake, lets requests in flight finish (within ctx) and waits for the server.
// It is safe before Start and more than once.
func (r *promrwReceiver) Shutdown(ctx context.Context) error {
	return r.server.Shutdown(ctx) // nil before Start
}

func (r *promrwReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(ctx, w, http.StatusMethodNotAllowed, reqMethod, "remote write accepts POST only")
		return
	}
	proto, err := protocolOf(req.Header.Get("Content-Type"))
	if err != nil {
		r.refuse(ctx, w, http.StatusUnsupportedMediaType, reqContentType, err.Error())
		return
	}
	if enc := req.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "snappy") {
		r.refuse(ctx, w, http.StatusUnsupportedMediaType, reqContentType, fmt.Sprintf("unsupported Content-Encoding %q: remote write bodies are snappy", enc))
		return
	}
	body, release, err := httpbody.ReadPooled(req.Body, req.ContentLength, r.cfg.MaxRequestBodySize)
	defer release()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, reqTooLarge, fmt.Sprintf(
			"request body exceeds the limit of %d bytes (max_request_body_size); send smaller batches (Prometheus: queue_config.max_samples_per_send)", tooLarge.Limit))
		return
	case err != nil:
		r.refuse(ctx, w, http.StatusBadRequest, reqReadError, "cannot read request body: "+err.Error())
		return
	}
	raw, releaseRaw, err := decompressPooled(body, r.cfg.MaxDecompressedBytes)
	defer releaseRaw()
	var decodedTooLarge *errDecodedTooLarge
	switch {
	case errors.As(err, &decodedTooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, reqTooLarge, err.Error())
		return
	case err != nil:
		r.refuse(ctx, w, http.StatusBadRequest, reqMalformed, err.Error())
		return
	}
	cluster := r.cluster(ctx)
	if cluster == "" {
		r.refuse(ctx, w, http.StatusUnauthorized, reqNoCluster, "no cluster for this request: authenticate with a token or "+
			"certificate known to the clusterauth extension, or set the receiver's cluster")
		return
	}
	md, rejected, status, err := convert(raw, proto, cluster, limits{maxLabels: r.cfg.MaxLabelsPerSeries})
	if err != nil {
		r.refuse(ctx, w, http.StatusBadRequest, reqMalformed, err.Error())
		return
	}
	if n := md.DataPointCount(); n > 0 {
		dctx, deferred := wal.WithDeferred(ctx)
		obsCtx := r.obs.StartMetricsOp(ctx)
		err := r.next.ConsumeMetrics(dctx, md)
		if werr := deferred.Wait(ctx); err == nil && werr != nil {
			err = fmt.Errorf("cannot make the batch durable: %w", werr)
		}
		r.obs.EndMetricsOp(obsCtx, "prometheus_remote_write", n, err)
		if err != nil {
			if consumererror.IsPermanent(err) {
				r.refuse(ctx, w, http.StatusBadRequest, reqRefused, "the pipeline refused the batch: "+err.Error())
				return
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Round(time.Second).Seconds())))
			r.refuse(ctx, w, http.StatusServiceUnavailable, reqBusy, "cannot store the batch now, retry: "+err.Error())
			return
		}
	}
	if len(rejected) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// Prometheus does not retry a 4xx: the series kept above are stored, the rejected ones are
	// named here and counted.
	total := 0
	msgs := make([]string, 0, min(len(rejected), 10))
	for _, rej := range rejected {
		total += rej.samples
		r.discarded.Add(ctx, int64(rej.samples), metric.WithAttributes(attribute.String("reason", rej.reason)))
		if len(msgs) < 10 {
			msgs = append(msgs, rej.reason+": "+rej.msg)
		}
	}
	msg := fmt.Sprintf("%d series rejected (%d samples), the rest stored: %s", len(rejected), total, strings.Join(msgs, "; "))
	if len(rejected) > len(msgs) {
		msg += fmt.Sprintf("; and %d more", len(rejected)-len(msgs))
	}
	r.refuse(ctx, w, status, reqPartial, msg)
}

// convert decodes a decompressed request of protocol proto and turns its series, stamped with
// cluster, into the metrics the pipeline gets. It returns the series (or samples) it left out and
// the status that names them (403 when one claimed another cluster, else 400); an error only when
// the message as a whole cannot be read. It needs no network: the handler, the fuzz targets and
// the benchmark share it. RW 1.0 goes from the wire straight to OTLP (convertV1); RW 2.0 through
// decoded series (convertSeries).
func convert(raw []byte, proto Protocol, cluster string, lim limits) (pmetric.Metrics, []rejection, int, error) {
	if proto == ProtocolV1 {
		return convertV1(raw, cluster, lim)
	}
	return convertSeries(raw, proto, cluster, lim)
}

// convertSeries is convert through decoded series: each series is decoded into labels.Labels
// and samples, checked, then converted. It converts RW 2.0, and RW 1.0 too as the reference that
// the tests compare convertV1 with.
func convertSeries(raw []byte, proto Protocol, cluster string, lim limits) (pmetric.Metrics, []rejection, int, error) {
	var ss []series
	var rejected []rejection
	var err error
	if proto == ProtocolV2 {
		ss, rejected, err = decodeV2(raw, lim)
	} else {
		ss, rejected, err = decodeV1(raw, lim)
	}
	if err != nil {
		return pmetric.Metrics{}, nil, 0, err
	}
	kept, status := ss[:0], http.StatusBadRequest
	for i := range ss {
		s := ss[i]
		if admit(&s, cluster, &rejected, &status) {
			kept = append(kept, s)
		}
	}
	md, unsupported := toMetrics(kept)
	return md, withUnsupported(rejected, unsupported), status, nil
}

// admit applies the checks that need the credentials' cluster to a decoded series: it refuses a
// series that claims another cluster (status becomes 403), drops the samples out of order, and
// stamps the cluster on a series that names none. It reports whether the series is kept.
func admit(s *series, cluster string, rejected *[]rejection, status *int) bool {
	claimed := s.labels.Get(promlabels.ClusterLabel)
	if claimed != "" && claimed != cluster {
		*status = http.StatusForbidden
		*rejected = append(*rejected, rejection{reason: reasonClusterMismatch, samples: len(s.samples) + len(s.hists),
			msg: fmt.Sprintf("series %s claims cluster %q but the credentials are of cluster %q", s.labels, claimed, cluster)})
		return false
	}
	if n := keepInOrder(s); n > 0 {
		*rejected = append(*rejected, rejection{reason: reasonOutOfOrder, samples: n,
			msg: fmt.Sprintf("series %s: %d samples not newer than the sample before them", s.labels, n)})
	}
	if claimed == "" {
		s.labels = withCluster(s.labels, cluster)
	}
	return true
}

func withUnsupported(rejected []rejection, unsupported int) []rejection {
	if unsupported > 0 {
		rejected = append(rejected, rejection{reason: reasonUnsupported, samples: unsupported,
			msg: fmt.Sprintf("%d native histogram samples with custom buckets, a schema outside -4..8, spans that disagree with their buckets or cover more than %d bucket indexes", unsupported, maxBucketRange)})
	}
	return rejected
}

// withCluster stamps the credentials' cluster on a series that names none. An empty cluster
// label is none (in Prometheus an empty label value is no label): it is replaced too.
func withCluster(ls labels.Labels, cluster string) labels.Labels {
	b := labels.NewBuilder(ls)
	b.Set(promlabels.ClusterLabel, cluster)
	return b.Labels()
}

// cluster is the authenticated cluster of the request, else the configured one.
func (r *promrwReceiver) cluster(ctx context.Context) string {
	if c := clusterauthextension.ClusterFrom(ctx); c != "" {
		return c
	}
	return r.cfg.Cluster
}

func (r *promrwReceiver) refuse(ctx context.Context, w http.ResponseWriter, code int, reason, msg string) {
	r.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	r.refusals.Warn("remote-write request refused (logged once per 10s, all counted in vigil_promrw_rejected_requests_total)",
		zap.Int("status", code), zap.String("reason", reason), zap.String("error", msg))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
