package otlprelayreceiver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vigil-obs/vigil/internal/httpbody"
	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/storage/fifo"
)

// itemCountsLen is the length of the counts at the front of a queued request, before its zstd
// frame: the number of items of the request and its uncompressed size in bytes, 4 bytes each,
// big endian.
const itemCountsLen = 8

// itemHeader is the room at the front of a queued item: the queue's header, then the counts
// (itemCountsLen).
const itemHeader = fifo.HeaderLen + itemCountsLen

// refusal is why a request was not acknowledged.
type refusal struct {
	code codes.Code
	err  error
}

func (e *refusal) Error() string { return e.err.Error() }

// accept checks req (an OTLP export request of signal s, in format "protobuf" or "json"),
// stamps the resource attributes and puts it in the durable queue; it returns once the request
// is durable, with the number of items it holds, or a *refusal. The collector's receiver metrics
// (otelcol_receiver_accepted_*, refused_*) of its transport, obs (r.obsGRPC or r.obsHTTP), count it.
func (r *relay) accept(ctx context.Context, obs *receiverhelper.ObsReport, s otlpwire.Signal, req []byte, format string) (n int, err error) {
	switch s {
	case otlpwire.Logs:
		ctx = obs.StartLogsOp(ctx)
		defer func() { obs.EndLogsOp(ctx, format, n, err) }()
	case otlpwire.Traces:
		ctx = obs.StartTracesOp(ctx)
		defer func() { obs.EndTracesOp(ctx, format, n, err) }()
	default:
		ctx = obs.StartMetricsOp(ctx)
		defer func() { obs.EndMetricsOp(ctx, format, n, err) }()
	}
	return r.queue(ctx, s, req)
}

// queue is accept without the receiver metrics.
func (r *relay) queue(ctx context.Context, s otlpwire.Signal, req []byte) (int, error) {
	n, err := otlpwire.Check(s, req)
	if err != nil {
		return 0, r.refuse(s, reasonMalformed, codes.InvalidArgument, err)
	}
	if len(req) == 0 {
		return 0, nil // an empty request: nothing to forward
	}
	stamped := req
	if len(r.attrs) > 0 || r.pods != nil {
		sp := stampBuffers.Get().(*[]byte)
		defer stampBuffers.Put(sp)
		if r.pods != nil {
			stamped, err = r.pods.stamp(ctx, (*sp)[:0], req, s, r.attrs)
		} else {
			stamped, err = otlpwire.SetResourceAttributes((*sp)[:0], req, s, r.attrs)
		}
		if err != nil {
			return 0, r.refuse(s, reasonMalformed, codes.InvalidArgument, err)
		}
		*sp = stamped[:0]
	}
	// A queued request: the number of its items and its uncompressed size (4 bytes each, big
	// endian), then the request as one zstd frame — what the senders send, concatenated. Or,
	// routed by item over several gateways, a cut item: one part per gateway (cut.go).
	itemp := itemBuffers.Get().(*[]byte)
	item := slices.Grow((*itemp)[:0], itemHeader+len(stamped)/2)[:itemHeader]
	cut := false
	if r.perItem[s] && r.fwd != nil { // several gateways up: cut now, while it is uncompressed (cut.go)
		gwp := gatewayLists.Get().(*[]*gateway)
		gws, id := r.fwd.router.members((*gwp)[:0])
		if len(gws) > 1 {
			item, cut = r.cutItem(item, s, stamped, gws, id)
		}
		clear(gws)
		*gwp = gws[:0]
		gatewayLists.Put(gwp)
	}
	if !cut {
		binary.BigEndian.PutUint32(item[fifo.HeaderLen:], uint32(min(n, math.MaxUint32&^cutFlag)))
		binary.BigEndian.PutUint32(item[fifo.HeaderLen+4:], uint32(len(stamped)))
		item = r.zstd.EncodeAll(stamped, item)
	}
	zlen := len(item) - itemHeader
	err = r.queues[s].PutOwned(ctx, item)
	if err == nil { // durable: the queue and its log no longer use item
		*itemp = item[:0]
		itemBuffers.Put(itemp)
	}
	if err != nil {
		if status.Code(err) == codes.ResourceExhausted {
			return 0, r.refuse(s, reasonQueueFull, codes.ResourceExhausted,
				fmt.Errorf("the durable queue is full (max_bytes of storage %s); retry later: %w", r.cfg.Storage, err))
		}
		return 0, r.refuse(s, reasonStorage, codes.Unavailable, fmt.Errorf("cannot queue the request durably: %w", err))
	}
	r.tel.received.Add(context.Background(), int64(n), signalAttr(s))
	r.tel.rawBytes.Add(context.Background(), int64(len(stamped)), signalAttr(s))
	r.tel.zBytes.Add(context.Background(), int64(zlen), signalAttr(s))
	return n, nil
}

// admit takes n bytes of max_inflight_bytes (all of it for a larger request), or refuses the
// request; release gives them back.
func (r *relay) admit(s otlpwire.Signal, n int64) (release func(), err error) {
	n = min(max(n, 1), r.cfg.MaxInflightBytes)
	if !r.inflight.TryAcquire(n) {
		return nil, r.refuse(s, reasonBusy, codes.ResourceExhausted,
			fmt.Errorf("over %d bytes of requests in progress (max_inflight_bytes); retry later", r.cfg.MaxInflightBytes))
	}
	return func() { r.inflight.Release(n) }, nil
}

func (r *relay) refuse(s otlpwire.Signal, reason string, code codes.Code, err error) *refusal {
	r.tel.refused.Add(context.Background(), 1, reasonAttrs(s, reason))
	return &refusal{code: code, err: fmt.Errorf("otlp %s request refused: %w", s, err)}
}

// grpcStatus is err as a gRPC status: refusals keep their code, with RetryInfo when the client
// should retry.
func (r *relay) grpcStatus(err error) *status.Status {
	var ref *refusal
	if !errors.As(err, &ref) {
		return status.New(codes.Unavailable, err.Error())
	}
	if (ref.code == codes.ResourceExhausted || ref.code == codes.Unavailable) && r.retryInfo != nil {
		// FromProto copies the message: the shared RetryInfo is not handed out.
		return status.FromProto(&spb.Status{Code: int32(ref.code), Message: ref.Error(), Details: []*anypb.Any{r.retryInfo}})
	}
	return status.New(ref.code, ref.Error())
}

// retryHints are the RetryInfo detail of refusals the client should retry (nil if it cannot be
// made) and the Retry-After header of the 429 and 503 answers: both retry_after, made once.
func retryHints(retryAfter time.Duration) (*anypb.Any, string) {
	info, err := anypb.New(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)})
	if err != nil {
		info = nil
	}
	return info, strconv.Itoa(int((retryAfter + time.Second - 1) / time.Second))
}

// Paths and gRPC methods of the OTLP export services, by signal.
var (
	httpPaths   = [...]string{otlpwire.Logs: "/v1/logs", otlpwire.Traces: "/v1/traces", otlpwire.Metrics: "/v1/metrics"}
	grpcService = [...]string{
		otlpwire.Logs:    "opentelemetry.proto.collector.logs.v1.LogsService",
		otlpwire.Traces:  "opentelemetry.proto.collector.trace.v1.TraceService",
		otlpwire.Metrics: "opentelemetry.proto.collector.metrics.v1.MetricsService",
	}
)

func (r *relay) httpHandler() http.Handler {
	mux := http.NewServeMux()
	for i, s := range signals {
		if r.enabled[i] {
			mux.HandleFunc(httpPaths[s], func(w http.ResponseWriter, req *http.Request) { r.serveHTTP(w, req, s) })
		}
	}
	return mux
}

// serveHTTP handles one OTLP/HTTP export (protobuf or JSON; confighttp has decompressed it).
func (r *relay) serveHTTP(w http.ResponseWriter, req *http.Request, s otlpwire.Signal) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is accepted", http.StatusMethodNotAllowed)
		return
	}
	mediaType, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	isJSON := mediaType == "application/json"
	if !isJSON && mediaType != "application/x-protobuf" {
		r.writeHTTPError(w, false, r.refuse(s, reasonMedia, codes.InvalidArgument,
			fmt.Errorf("content type %q: use application/x-protobuf or application/json", mediaType)), http.StatusUnsupportedMediaType)
		return
	}
	if req.ContentLength > 0 { // known before reading: refuse before the memory is taken
		release, err := r.admit(s, req.ContentLength)
		if err != nil {
			r.writeHTTPError(w, isJSON, err, 0)
			return
		}
		defer release()
	}
	body, release, err := httpbody.ReadPooled(req.Body, req.ContentLength, r.maxBody) // accept copies what it keeps
	defer release()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.Header().Set("Connection", "close") // the rest of the body is not read
			r.writeHTTPError(w, isJSON, r.refuse(s, reasonMalformed, codes.InvalidArgument,
				fmt.Errorf("body over %d bytes (protocols::http::max_request_body_size)", tooLarge.Limit)), http.StatusRequestEntityTooLarge)
			return
		}
		r.writeHTTPError(w, isJSON, r.refuse(s, reasonMalformed, codes.InvalidArgument, fmt.Errorf("cannot read the body: %w", err)), http.StatusBadRequest)
		return
	}
	if req.ContentLength <= 0 { // chunked: counted once read
		release, err := r.admit(s, int64(len(body)))
		if err != nil {
			r.writeHTTPError(w, isJSON, err, 0)
			return
		}
		defer release()
	}
	if isJSON {
		if body, err = jsonToProto(s, body); err != nil {
			r.writeHTTPError(w, true, r.refuse(s, reasonMalformed, codes.InvalidArgument, err), http.StatusBadRequest)
			return
		}
	}
	format := "protobuf"
	if isJSON {
		format = "json"
	}
	if _, err := r.accept(req.Context(), r.obsHTTP, s, body, format); err != nil {
		r.writeHTTPError(w, isJSON, err, 0)
		return
	}
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK) // an empty Export*ServiceResponse is zero bytes
}

// stampBuffers hold requests with the resource attributes set, until they are compressed.
var stampBuffers = sync.Pool{New: func() any { return new([]byte) }}

// gatewayLists are the lists of gateways up that requests are cut for.
var gatewayLists = sync.Pool{New: func() any { return new([]*gateway) }}

// itemBuffers are the buffers of queued items, reused once an item is durable.
var itemBuffers = sync.Pool{New: func() any { return new([]byte) }}

// writeHTTPError answers err as OTLP/HTTP does: a google.rpc.Status body, 400 for bad data,
// 429 or 503 with Retry-After when the client should retry. code overrides the status code.
func (r *relay) writeHTTPError(w http.ResponseWriter, isJSON bool, err error, code int) {
	st := r.grpcStatus(err)
	if code == 0 {
		switch st.Code() {
		case codes.InvalidArgument:
			code = http.StatusBadRequest
		case codes.ResourceExhausted:
			code = http.StatusTooManyRequests
		default:
			code = http.StatusServiceUnavailable
		}
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	var body []byte
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		body, _ = protojson.Marshal(st.Proto())
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		body, _ = proto.Marshal(st.Proto())
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// jsonToProto converts an OTLP/JSON request to protobuf (the slow path: decoded into pdata).
func jsonToProto(s otlpwire.Signal, body []byte) ([]byte, error) {
	var req interface {
		UnmarshalJSON([]byte) error
		MarshalProto() ([]byte, error)
	}
	switch s {
	case otlpwire.Logs:
		req = plogotlp.NewExportRequest()
	case otlpwire.Traces:
		req = ptraceotlp.NewExportRequest()
	default:
		req = pmetricotlp.NewExportRequest()
	}
	if err := req.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("cannot decode the OTLP/JSON request: %w", err)
	}
	out, err := req.MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("cannot encode the OTLP/JSON request as protobuf: %w", err)
	}
	return out, nil
}

// registerGRPC registers the export service of every enabled signal, on the raw message type:
// the request bytes are never decoded into pdata.
func (r *relay) registerGRPC(srv *grpc.Server) {
	for i, s := range signals {
		if !r.enabled[i] {
			continue
		}
		export := func(ctx context.Context, req any) (any, error) {
			b := req.(*rawMessage).b
			release, err := r.admit(s, int64(len(b)))
			if err != nil {
				return nil, r.grpcStatus(err).Err()
			}
			defer release()
			if _, err := r.accept(ctx, r.obsGRPC, s, b, "protobuf"); err != nil {
				return nil, r.grpcStatus(err).Err()
			}
			return new(rawMessage), nil
		}
		// The same for every call (grpc-go's generated code makes one per call).
		info := &grpc.UnaryServerInfo{Server: r, FullMethod: "/" + grpcService[s] + "/Export"}
		srv.RegisterService(&grpc.ServiceDesc{
			ServiceName: grpcService[s],
			HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{{MethodName: "Export", Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(rawMessage)
				if err := dec(in); err != nil {
					return nil, err
				}
				if interceptor == nil {
					return export(ctx, in)
				}
				return interceptor(ctx, in, info, export)
			}}},
		}, r)
	}
}

// rawMessage is a protobuf message kept as its bytes. The collector's gRPC codec (pdata's
// otelgrpc, registered as "proto") marshals and unmarshals any type with these methods.
type rawMessage struct{ b []byte }

func (m *rawMessage) SizeProto() int                  { return len(m.b) }
func (m *rawMessage) MarshalProto(buf []byte) int     { return copy(buf, m.b) }
func (m *rawMessage) UnmarshalProto(buf []byte) error { m.b = append(m.b[:0], buf...); return nil }
