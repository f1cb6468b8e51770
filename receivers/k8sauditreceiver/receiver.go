package k8sauditreceiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/internal/httpbody"
	"github.com/vigil-obs/vigil/receivers/k8sauditreceiver/internal/metadata"
	"github.com/vigil-obs/vigil/storage/wal"
)

// Reasons a whole request is refused (label "reason" of vigil_k8saudit_rejected_requests_total).
const (
	reqMethod    = "method_not_allowed"
	reqTooLarge  = "body_too_large"
	reqMalformed = "malformed_request"
	reqNoCluster = "no_cluster"
	reqRefused   = "pipeline_refused"
	reqBusy      = "pipeline_busy"
	reqTooMany   = "too_many_events"
	reqInflight  = "inflight_limit"
	reqReadError = "read_error"
)

type auditReceiver struct {
	cfg      *Config
	set      receiver.Settings
	next     consumer.Logs
	obs      *receiverhelper.ObsReport
	dedup    *dedup
	limits   Limits
	inflight *inflight
	logger   *zap.Logger
	requests metric.Int64Counter
	events   metric.Int64Counter
	dups     metric.Int64Counter

	server *http.Server
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*auditReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &auditReceiver{cfg: cfg, set: set, next: next, obs: obs, logger: set.Logger,
		dedup:    newDedup(cfg.DedupWindow, cfg.DedupMaxKeys, time.Now),
		limits:   Limits{MaxEventBytes: cfg.MaxEventBytes, MaxEvents: cfg.MaxEventsPerRequest},
		inflight: &inflight{limit: cfg.MaxInflightBytes}}
	r.requests, r.events, r.dups = tb.K8sauditRejectedRequests, tb.K8sauditDiscardedEvents, tb.K8sauditDuplicateEvents
	r.dedup.reused = tb.K8sauditReusedAuditIds
	return r, nil
}

// Start listens and serves in the background (it returns once the listener is bound), and starts
// following the configured files.
func (r *auditReceiver) Start(ctx context.Context, host component.Host) error {
	if err := r.startFiles(ctx, host); err != nil {
		return err
	}
	if r.cfg.NetAddr.Endpoint == "" {
		return nil
	}
	ln, err := r.cfg.ToListener(ctx)
	if err != nil {
		r.stopFiles()
		return fmt.Errorf("cannot listen on %s (k8saudit endpoint): %w", r.cfg.NetAddr.Endpoint, err)
	}
	mux := http.NewServeMux()
	mux.Handle(r.cfg.Path, r)
	srv, err := r.cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux)
	if err != nil {
		_ = ln.Close()
		r.stopFiles()
		return err
	}
	r.server = srv
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("audit webhook server stopped", zap.Error(err))
		}
	}()
	return nil
}

// Shutdown stops intake, lets requests in flight finish (within ctx) and waits for the server.
func (r *auditReceiver) Shutdown(ctx context.Context) error {
	r.stopFiles()
	if r.server == nil {
		return nil
	}
	err := r.server.Shutdown(ctx)
	r.wg.Wait()
	return err
}

// startFiles starts one tailer per configured file.
func (r *auditReceiver) startFiles(ctx context.Context, host component.Host) error {
	if len(r.cfg.Files) == 0 {
		return nil
	}
	ext, ok := host.GetExtensions()[*r.cfg.FileStorage]
	if !ok {
		return fmt.Errorf("file_storage: extension %q is not configured", *r.cfg.FileStorage)
	}
	st, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("file_storage: extension %q is not a storage extension", *r.cfg.FileStorage)
	}
	client, err := st.GetClient(ctx, component.KindReceiver, r.set.ID, "files")
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, path := range r.cfg.Files {
		t := &tailer{path: path, client: client, key: "position/" + path, limits: r.limits, logger: r.logger,
			batch: 400, emit: r.emitFromFile, reject: func(ctx context.Context, rej Rejected) {
				r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", rej.Reason)))
				r.logger.Warn("audit event rejected", zap.String("file", path), zap.String("audit_id", rej.AuditID),
					zap.String("reason", rej.Reason), zap.String("message", rej.Message))
			}}
		if err := t.load(ctx); err != nil {
			cancel()
			return fmt.Errorf("cannot read the position of %s: %w", path, err)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t.run(runCtx, r.cfg.PollInterval)
		}()
	}
	return nil
}

func (r *auditReceiver) stopFiles() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
		if r.server == nil {
			r.wg.Wait()
		}
	}
}

// emitFromFile hands events read from a file to the pipeline, skipping those already stored.
func (r *auditReceiver) emitFromFile(ctx context.Context, events []Event) error {
	fresh, keys, dups := r.dedup.filter(ctx, r.cfg.Cluster, events)
	if dups > 0 {
		r.dups.Add(ctx, int64(dups))
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := r.consume(ctx, r.cfg.Cluster, fresh); err != nil {
		return err
	}
	r.dedup.remember(keys)
	return nil
}

// consume passes events on and returns once everything the pipeline wrote for them is durable:
// durable queues that write through walstorage leave their fsync to one wal.Deferred wait here
// (group commit across the destinations, and none of them waits holding its queue's lock).
func (r *auditReceiver) consume(ctx context.Context, cluster string, events []Event) error {
	dctx, deferred := wal.WithDeferred(ctx)
	obsCtx := r.obs.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(dctx, toLogs(cluster, events, time.Now()))
	if werr := deferred.Wait(ctx); err == nil && werr != nil {
		err = fmt.Errorf("cannot make the batch durable: %w", werr)
	}
	r.obs.EndLogsOp(obsCtx, "json", len(events), err)
	return err
}

// response is the JSON answer of the webhook. The apiserver only reads the status code; people
// and tests read the rest.
type response struct {
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	Rejected   []Rejected `json:"rejected,omitempty"`
	Error      string     `json:"error,omitempty"`
}

func (r *auditReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(ctx, w, http.StatusMethodNotAllowed, reqMethod, "the audit webhook accepts POST only")
		return
	}
	// The memory this request holds is counted in inflight before it is taken: the body as it is
	// read, then its events (requestCost).
	t := ticket{f: r.inflight}
	defer t.done()
	// Nothing refers to the body once the request is answered: the events' strings are a copy
	// (see decodeFast).
	body, release, err := httpbody.ReadPooledReserved(req.Body, req.ContentLength, r.cfg.MaxRequestBodySize,
		func(capacity int64) error { return t.grow(requestCost(min(capacity, r.cfg.MaxRequestBodySize), 0)) })
	defer release()
	var tooLarge *http.MaxBytesError
	var busy *busyError
	switch {
	case errors.As(err, &busy):
		r.busy(ctx, w, reqInflight, err.Error())
		return
	case errors.As(err, &tooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, reqTooLarge, fmt.Sprintf(
			"request body exceeds the limit of %d bytes (max_request_body_size); lower the apiserver's --audit-webhook-batch-max-size", tooLarge.Limit))
		return
	case err != nil:
		r.refuse(ctx, w, http.StatusBadRequest, reqReadError, "cannot read request body: "+err.Error())
		return
	}
	events, rejected, err := Decode(body, r.limits)
	var tooMany *TooManyEventsError
	switch {
	case errors.As(err, &tooMany):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, reqTooMany, err.Error())
		return
	case err != nil:
		r.refuse(ctx, w, http.StatusBadRequest, reqMalformed, err.Error())
		return
	}
	if err := t.grow(requestCost(len(body), len(events)+len(rejected))); err != nil {
		r.busy(ctx, w, reqInflight, err.Error())
		return
	}
	cluster := r.cluster(ctx)
	if cluster == "" {
		r.refuse(ctx, w, http.StatusUnauthorized, reqNoCluster, "no cluster for this request: authenticate with a token or "+
			"certificate known to the clusterauth extension, or set the receiver's cluster")
		return
	}
	for _, rej := range rejected {
		r.events.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", rej.Reason)))
		r.logger.Warn("audit event rejected", zap.String("cluster", cluster), zap.Int("index", rej.Index),
			zap.String("audit_id", rej.AuditID), zap.String("reason", rej.Reason), zap.String("message", rej.Message))
	}
	fresh, keys, dups := r.dedup.filter(ctx, cluster, events)
	if dups > 0 {
		r.dups.Add(ctx, int64(dups))
	}
	resp := response{Accepted: len(fresh), Duplicates: dups, Rejected: rejected}
	if len(fresh) > 0 {
		if err := r.consume(ctx, cluster, fresh); err != nil {
			if consumererror.IsPermanent(err) {
				r.refuse(ctx, w, http.StatusBadRequest, reqRefused, "the pipeline refused the batch: "+err.Error())
				return
			}
			r.busy(ctx, w, reqBusy, "cannot store the batch now, retry: "+err.Error())
			return
		}
		r.dedup.remember(keys)
	}
	writeJSON(w, http.StatusOK, resp)
}

// cluster is the authenticated cluster of the request, else the configured one.
func (r *auditReceiver) cluster(ctx context.Context) string {
	if c := clusterauthextension.ClusterFrom(ctx); c != "" {
		return c
	}
	return r.cfg.Cluster
}

func (r *auditReceiver) refuse(ctx context.Context, w http.ResponseWriter, code int, reason, msg string) {
	r.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	if code >= 500 || reason == reqMalformed || reason == reqTooMany {
		r.logger.Warn("audit webhook request refused", zap.Int("status", code), zap.String("reason", reason), zap.String("error", msg))
	}
	writeJSON(w, code, response{Error: msg})
}

// busy refuses a request that can be taken later: 429 when the requests in flight hold too
// much memory, 503 when the pipeline cannot take the batch; with Retry-After (retry_after).
func (r *auditReceiver) busy(ctx context.Context, w http.ResponseWriter, reason, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Round(time.Second).Seconds())))
	code := http.StatusServiceUnavailable
	if reason == reqInflight {
		code = http.StatusTooManyRequests
	}
	r.refuse(ctx, w, code, reason, msg)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
