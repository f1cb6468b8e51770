package lokipushreceiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/httpbody"
	"github.com/vigil-obs/vigil/receivers/lokipushreceiver/internal/metadata"
	"github.com/vigil-obs/vigil/storage/wal"
)

// Path is where the receiver serves Loki's push API.
const Path = "/loki/api/v1/push"

// Reasons a whole request is refused (label "reason" of vigil_lokipush_rejected_requests).
const (
	reqMethod      = "method_not_allowed"
	reqTooLarge    = "body_too_large"
	reqMediaType   = "unsupported_media_type"
	reqMalformed   = "malformed_request"
	reqNoCluster   = "no_cluster"
	reqRefused     = "pipeline_refused"
	reqBusy        = "pipeline_busy"
	reqReadError   = "read_error"
	reqSomeInvalid = "invalid_streams" // some streams or entries refused, the rest accepted
)

type lokiReceiver struct {
	cfg       *Config
	set       receiver.Settings
	next      consumer.Logs
	obs       *receiverhelper.ObsReport
	logger    *zap.Logger
	requests  metric.Int64Counter
	discarded metric.Int64Counter

	server *httpapiextension.RunningServer
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*lokiReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &lokiReceiver{cfg: cfg, set: set, next: next, obs: obs, logger: set.Logger,
		requests: tb.LokipushRejectedRequests, discarded: tb.LokipushDiscardedEntries}
	return r, nil
}

// Start listens and serves in the background; it returns once the listener is bound.
func (r *lokiReceiver) Start(ctx context.Context, host component.Host) error {
	mux := http.NewServeMux()
	mux.Handle(Path, r)
	srv, err := httpapiextension.Serve(ctx, &r.cfg.ServerConfig, host, r.set.TelemetrySettings, mux, "lokipush endpoint")
	r.server = srv
	return err
}

// Shutdown stops intake, lets requests in flight finish (within ctx) and waits for the server.
// Safe before Start and more than once.
func (r *lokiReceiver) Shutdown(ctx context.Context) error {
	return r.server.Shutdown(ctx) // nil before Start
}

func (r *lokiReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(ctx, w, http.StatusMethodNotAllowed, reqMethod, "the Loki push API accepts POST only")
		return
	}
	body, err := httpbody.Read(req.Body, req.ContentLength, r.cfg.MaxRequestBodySize)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, reqTooLarge, fmt.Sprintf(
			"request body exceeds the limit of %d bytes (max_request_body_size); send smaller batches (Promtail: batchsize, Fluent Bit: Buffer_Size)", tooLarge.Limit))
		return
	case err != nil:
		r.refuse(ctx, w, http.StatusBadRequest, reqReadError, "cannot read request body: "+err.Error())
		return
	}
	pr, err := Decode(body, req.Header.Get("Content-Type"), r.cfg.MaxDecodedBytes)
	var decodedTooLarge *TooLargeError
	switch {
	case errors.As(err, &decodedTooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, reqTooLarge, err.Error())
		return
	case errors.Is(err, ErrUnsupportedMediaType):
		r.refuse(ctx, w, http.StatusUnsupportedMediaType, reqMediaType, err.Error())
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
	ld, rejected := Convert(pr, cluster, Limits{MaxLabels: r.cfg.MaxLabelsPerStream, MaxLineBytes: r.cfg.MaxLineBytes}, time.Now())
	if n := ld.LogRecordCount(); n > 0 {
		if err := r.consume(ctx, ld, n); err != nil {
			if consumererror.IsPermanent(err) {
				r.refuse(ctx, w, http.StatusBadRequest, reqRefused, "the pipeline refused the request: "+err.Error())
				return
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Round(time.Second).Seconds())))
			r.refuse(ctx, w, http.StatusServiceUnavailable, reqBusy, "cannot store the request now, retry: "+err.Error())
			return
		}
	}
	if len(rejected) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// As Loki does: the valid streams are kept, and the answer names what was refused. A client
	// does not retry a 4xx, so nothing is sent twice.
	code := http.StatusBadRequest
	var msg strings.Builder
	fmt.Fprintf(&msg, "%d of the request's streams or entries refused (%d log entries accepted):", len(rejected), ld.LogRecordCount())
	for i, rej := range rejected {
		if rej.Reason == ReasonClusterMismatch {
			code = http.StatusForbidden
		}
		r.discarded.Add(ctx, int64(rej.Entries), metric.WithAttributes(attribute.String("reason", rej.Reason)))
		if i < 10 {
			fmt.Fprintf(&msg, "\nstream %s: %s: %s", truncate(rej.Stream), rej.Reason, rej.Message)
		}
	}
	if len(rejected) > 10 {
		fmt.Fprintf(&msg, "\n... and %d more", len(rejected)-10)
	}
	r.refuse(ctx, w, code, reqSomeInvalid, msg.String())
}

// consume passes logs on and returns once everything the pipeline wrote for them is durable
// (one group-commit wait, as the other receivers do).
func (r *lokiReceiver) consume(ctx context.Context, ld plog.Logs, n int) error {
	dctx, deferred := wal.WithDeferred(ctx)
	obsCtx := r.obs.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(dctx, ld)
	if werr := deferred.Wait(ctx); err == nil && werr != nil {
		err = fmt.Errorf("cannot make the request durable: %w", werr)
	}
	r.obs.EndLogsOp(obsCtx, "loki", n, err)
	return err
}

// cluster is the authenticated cluster of the request, else the configured one.
func (r *lokiReceiver) cluster(ctx context.Context) string {
	if c := clusterauthextension.ClusterFrom(ctx); c != "" {
		return c
	}
	return r.cfg.Cluster
}

func (r *lokiReceiver) refuse(ctx context.Context, w http.ResponseWriter, code int, reason, msg string) {
	r.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	r.logger.Warn("loki push request refused", zap.Int("status", code), zap.String("reason", reason), zap.String("error", msg))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

func truncate(s string) string {
	if len(s) > 256 {
		return s[:256] + "..."
	}
	return s
}
