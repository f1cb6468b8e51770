package archivequeryreceiver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

type queryReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Logs
	logger *zap.Logger

	readers httpapiextension.Readers // on the receiver's own server

	bucket objstore.Bucket
	engine *archivequery.Engine
	server *httpapiextension.RunningServer
	tails  tails
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) *queryReceiver {
	r := &queryReceiver{cfg: cfg, set: set, next: next, logger: set.Logger}
	r.readers.Add(cfg.Readers)
	return r
}

// Start opens the bucket and starts serving.
func (r *queryReceiver) Start(ctx context.Context, host component.Host) error {
	bkt, err := r.cfg.Bucket.OpenBucket()
	if err != nil {
		return fmt.Errorf("cannot open the archive (archivequery bucket): %w", err)
	}
	r.bucket = bkt
	r.tails.start()
	r.engine = &archivequery.Engine{Bucket: bkt, Manifests: &archive.ManifestCache{}, Warn: func(err error) {
		r.logger.Warn("archive query: object scanned without its index", zap.Error(err))
	}}
	if r.cfg.HTTPAPI != nil {
		err = r.mount(host)
	} else {
		err = r.serve(ctx, host)
	}
	if err != nil {
		_ = bkt.Close()
		r.bucket = nil
	}
	return err
}

// mount puts the API on the shared API port (the httpapi extension named by http_api).
func (r *queryReceiver) mount(host component.Host) error {
	api, err := httpapiextension.Lookup(host, *r.cfg.HTTPAPI, "archivequery http_api")
	if err != nil {
		return err
	}
	api.AddReaders(r.cfg.Readers)
	if !api.HasReaders() && !httpapiextension.Loopback(api.Endpoint()) {
		return fmt.Errorf("readers: must be set, here or on extension %s, when the API port %q is not a loopback address (anonymous reads are local only)",
			r.cfg.HTTPAPI, api.Endpoint())
	}
	for pattern, h := range r.routes() {
		if err := api.Handle(pattern, h); err != nil {
			return err
		}
	}
	return nil
}

// serve starts the receiver's own server (server.endpoint).
func (r *queryReceiver) serve(ctx context.Context, host component.Host) error {
	httpapiextension.WarnPlainTokens(r.logger, r.cfg.Server.NetAddr.Endpoint, r.cfg.Server.TLS.HasValue(), r.cfg.Readers, "archivequery server")
	srv, err := httpapiextension.Serve(ctx, &r.cfg.Server, host, r.set.TelemetrySettings, httpapiextension.Mux(r.routes()),
		"archivequery server.endpoint")
	r.server = srv
	return err
}

// Shutdown stops serving, lets queries in flight finish (within ctx) and closes the bucket.
// Idempotent; safe before Start.
func (r *queryReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	errs = append(errs, r.tails.stop(ctx)) // first: their connections are no longer the server's
	errs = append(errs, r.server.Shutdown(ctx))
	r.server = nil
	if r.bucket != nil {
		errs = append(errs, r.bucket.Close())
		r.bucket = nil
	}
	return errors.Join(errs...)
}

// reader returns the identity of the request: the one the API port authenticated it as, or, on
// the receiver's own server, its verified client certificate or its bearer token ("anonymous"
// when no readers are configured: the endpoint is then loopback only).
func (r *queryReceiver) reader(req *http.Request) (string, error) {
	if name, ok := httpapiextension.ReaderFrom(req.Context()); ok {
		return name, nil
	}
	return r.readers.Identify(req, true, r.cfg.Server.NetAddr.Endpoint)
}

// queryRecord is the audit event vigil records for each query, in the shape of a Kubernetes
// audit event so that it is queried like the others: {cluster="vigil", verb="query"}.
type queryRecord struct {
	Kind        string            `json:"kind"`
	APIVersion  string            `json:"apiVersion"`
	Level       string            `json:"level"`
	AuditID     string            `json:"auditID"`
	Stage       string            `json:"stage"`
	RequestURI  string            `json:"requestURI"`
	Verb        string            `json:"verb"`
	User        map[string]string `json:"user"`
	SourceIPs   []string          `json:"sourceIPs"`
	UserAgent   string            `json:"userAgent,omitempty"`
	ObjectRef   map[string]string `json:"objectRef"`
	Response    map[string]int    `json:"responseStatus"`
	Received    string            `json:"requestReceivedTimestamp"`
	StageTime   string            `json:"stageTimestamp"`
	Annotations map[string]string `json:"annotations"`
}

// record emits the audit record of one query into the pipeline and returns only when the
// pipeline has accepted it (with the archive exporter: staged durably).
func (r *queryReceiver) record(ctx context.Context, req *http.Request, reader string, received time.Time, ans answer) error {
	query, code, results := ans.query, ans.code, ans.results
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	now := time.Now().UTC()
	rec := queryRecord{Kind: "Event", APIVersion: "audit.vigil.dev/v1", Level: "Request", AuditID: hex.EncodeToString(id),
		Stage: "ResponseComplete", RequestURI: req.URL.RequestURI(), Verb: "query", User: map[string]string{"username": reader},
		SourceIPs: []string{host}, UserAgent: req.UserAgent(),
		ObjectRef: map[string]string{"resource": "archive", "apiGroup": "vigil.dev", "name": strings.TrimPrefix(req.URL.Path, "/loki/api/v1/")},
		Response:  map[string]int{"code": code}, Received: received.UTC().Format(time.RFC3339Nano), StageTime: now.Format(time.RFC3339Nano),
		Annotations: map[string]string{"vigil.dev/query": query, "vigil.dev/results": fmt.Sprint(results)}}
	if ans.problems > 0 {
		rec.Annotations["vigil.dev/archive-problems"] = fmt.Sprint(ans.problems)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.cluster.name", r.cfg.AuditCluster)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/vigil-obs/vigil/receivers/archivequeryreceiver")
	lr := sl.LogRecords().AppendEmpty()
	lr.Body().SetStr(string(body))
	lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetEventName("vigil.archive.query")
	attrs := lr.Attributes()
	attrs.PutStr("k8s.audit.id", rec.AuditID)
	attrs.PutStr("k8s.audit.stage", rec.Stage)
	attrs.PutStr("k8s.audit.verb", rec.Verb)
	attrs.PutStr("user.name", reader)
	return r.next.ConsumeLogs(ctx, ld)
}
