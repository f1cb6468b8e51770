package otlprelayreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/internal/relayqueue"
	"github.com/vigil-obs/vigil/storage/fifo"
)

// signals are the signals a relay can serve, in otlpwire order.
var signals = [...]otlpwire.Signal{otlpwire.Logs, otlpwire.Traces, otlpwire.Metrics}

// relay is the shared state of one otlprelay configuration. It is safe for concurrent use.
type relay struct {
	cfg        *Config
	set        receiver.Settings
	attrs      []otlpwire.Attr
	pods       *pods // nil: pod_metadata is off
	enabled    [len(signals)]bool
	perItem    [len(signals)]bool // routed by item (trace ID, series): split over the gateways up
	splitters  sync.Pool          // of *otlpwire.Splitter
	bufs       sync.Pool          // of *[]byte: decompressed exports
	tel        *telemetry
	obsGRPC    *receiverhelper.ObsReport         // the collector's receiver metrics of gRPC requests
	obsHTTP    *receiverhelper.ObsReport         // and of HTTP requests
	maxBody    int64                             // protocols::http::max_request_body_size (0: httpbody's default)
	inflight   *semaphore.Weighted               // request bytes being received and queued (max_inflight_bytes)
	calls      [len(signals)]*semaphore.Weighted // export calls under way per signal routed by item (num_senders)
	retryInfo  *anypb.Any                        // the RetryInfo detail of refusals to retry (retry_after); nil: none
	retryAfter string                            // the Retry-After header of 429 and 503 answers (retry_after, in seconds)

	// lastRetryLog (unix nanoseconds) rate-limits the log line of failed exports to one per
	// retryLogEvery, across the senders of this relay.
	lastRetryLog atomic.Int64

	mu      sync.Mutex
	starts  int
	queues  [len(signals)]*fifo.Queue
	clients [len(signals)]storage.Client
	fwd     *forwarder
	zstd    *zstd.Encoder // compresses requests as they are queued (EncodeAll: concurrent use)
	grpcSrv *grpc.Server
	httpSrv *http.Server
	cancel  context.CancelFunc // stops the senders
	// unregister withdraws the logs queue from other receivers (relayqueue); nil: not offered.
	unregister func()
	senders    sync.WaitGroup
	servers    sync.WaitGroup
}

func newRelay(set receiver.Settings, cfg *Config) (*relay, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	// No checksum: the log has its own. A 512 KiB window (the collector's gRPC zstd window) and
	// the lower-memory tables: with the library's 8 MiB default each block encoder held 16 MiB
	// of history for requests of a few MiB at most, for the same ratio (benchmarks/RESULTS.md).
	_, level := zstd.EncoderLevelFromString(cfg.Forward.CompressionLevel)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(512<<10), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	r := &relay{cfg: cfg, set: set, attrs: cfg.attrs(), tel: tel, zstd: enc,
		inflight: semaphore.NewWeighted(cfg.MaxInflightBytes)}
	r.retryInfo, r.retryAfter = retryHints(cfg.RetryAfter)
	for i, s := range signals {
		r.perItem[i] = cfg.perItem(s)
		r.calls[i] = semaphore.NewWeighted(int64(cfg.NumSenders))
	}
	for transport, obs := range map[string]**receiverhelper.ObsReport{"grpc": &r.obsGRPC, "http": &r.obsHTTP} {
		if *obs, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
			ReceiverID: set.ID, Transport: transport, ReceiverCreateSettings: set,
		}); err != nil {
			return nil, err
		}
	}
	if cfg := cfg.Protocols.HTTP.Get(); cfg != nil {
		r.maxBody = cfg.MaxRequestBodySize
	}
	if cfg.PodMetadata.Enabled {
		r.pods = newPods(set, tel.lookups, &cfg.PodMetadata)
	}
	return r, nil
}

// start opens the queues, connects to the gateway, starts the senders and then the listeners;
// only the first call does. On failure it undoes what it started.
func (r *relay) start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	if r.starts > 1 {
		return nil
	}
	if err := r.startLocked(ctx, host); err != nil {
		_ = r.stopLocked(context.Background()) // undoing a failed start: its error is the one to report
		r.starts = 0
		return err
	}
	return nil
}

func (r *relay) startLocked(ctx context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[*r.cfg.Storage]
	if !ok {
		return fmt.Errorf("storage: extension %q is not configured (add it to extensions and service::extensions)", r.cfg.Storage)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %q is not a storage extension", r.cfg.Storage)
	}
	for i, s := range signals {
		if !r.enabled[i] {
			continue
		}
		client, err := se.GetClient(ctx, component.KindReceiver, r.set.ID, "relay-"+s.String())
		if err != nil {
			return fmt.Errorf("cannot open the %s queue: %w", s, err)
		}
		r.clients[i] = client
		if r.queues[i], err = fifo.Open(ctx, client); err != nil {
			return fmt.Errorf("cannot open the %s queue: %w", s, err)
		}
	}
	if r.pods != nil {
		if err := r.pods.start(ctx); err != nil {
			return err
		}
	}
	fwd, err := newForwarder(r.cfg, func(addr string, err error) {
		r.set.Logger.Warn("gateway unavailable: its share goes to the next gateway for a while", zap.String("gateway", addr), zap.Error(err))
	})
	if err != nil {
		return fmt.Errorf("cannot set up the client of forward::endpoint %q: %w", r.cfg.Forward.Endpoint, err)
	}
	fwd.start()
	r.fwd = fwd
	if err := r.tel.observeQueues(r.queueList()); err != nil {
		return err
	}
	if r.enabled[otlpwire.Logs] { // containerlogs' relay setting
		r.unregister = relayqueue.Register(ext, r.set.ID, logsQueue{r})
	}
	sendCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for i, q := range r.queues {
		if q == nil {
			continue
		}
		for range r.cfg.NumSenders {
			r.senders.Go(func() { r.sendLoop(sendCtx, signals[i], q) })
		}
	}
	return r.startServers(ctx, host)
}

// queueList is the open queues by signal.
func (r *relay) queueList() map[otlpwire.Signal]*fifo.Queue {
	m := map[otlpwire.Signal]*fifo.Queue{}
	for i, q := range r.queues {
		if q != nil {
			m[signals[i]] = q
		}
	}
	return m
}

func (r *relay) startServers(ctx context.Context, host component.Host) error {
	if cfg := r.cfg.Protocols.GRPC.Get(); cfg != nil {
		ln, err := cfg.NetAddr.Listen(ctx)
		if err != nil {
			return fmt.Errorf("cannot listen on protocols::grpc::endpoint %q: %w", cfg.NetAddr.Endpoint, err)
		}
		srv, err := cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("cannot set up the gRPC server: %w", err)
		}
		r.registerGRPC(srv)
		r.grpcSrv = srv
		r.serve("grpc", func() error { return srv.Serve(ln) }, grpc.ErrServerStopped)
		r.set.Logger.Info("OTLP relay listening", zap.String("protocol", "grpc"), zap.String("endpoint", ln.Addr().String()))
	}
	if cfg := r.cfg.Protocols.HTTP.Get(); cfg != nil {
		ln, err := cfg.ToListener(ctx)
		if err != nil {
			return fmt.Errorf("cannot listen on protocols::http::endpoint %q: %w", cfg.NetAddr.Endpoint, err)
		}
		srv, err := cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, r.httpHandler())
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("cannot set up the HTTP server: %w", err)
		}
		r.httpSrv = srv
		r.serve("http", func() error { return srv.Serve(ln) }, http.ErrServerClosed)
		r.set.Logger.Info("OTLP relay listening", zap.String("protocol", "http"), zap.String("endpoint", ln.Addr().String()))
	}
	return nil
}

// serve runs a server until it is stopped; any other end is reported to the host.
func (r *relay) serve(protocol string, run func() error, stopped error) {
	r.servers.Go(func() {
		if err := run(); err != nil && !errors.Is(err, stopped) && !errors.Is(err, net.ErrClosed) {
			r.set.Logger.Error("OTLP relay server stopped", zap.String("protocol", protocol), zap.Error(err))
		}
	})
}

// shutdown stops the relay at the last call: listeners first (no new requests), then the
// senders (a request they are sending stays queued and is sent again after a restart), then
// the queues. It reports whether this was the last call.
func (r *relay) shutdown(ctx context.Context) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.starts == 0 {
		return true, nil
	}
	r.starts--
	if r.starts > 0 {
		return false, nil
	}
	return true, r.stopLocked(ctx)
}

func (r *relay) stopLocked(ctx context.Context) error {
	var errs []error
	if r.unregister != nil {
		r.unregister()
		r.unregister = nil
	}
	if r.httpSrv != nil {
		if err := r.httpSrv.Shutdown(ctx); err != nil { // ctx ended first: cut the requests still running
			errs = append(errs, err, r.httpSrv.Close())
		}
		r.httpSrv = nil
	}
	if r.grpcSrv != nil {
		stopped := make(chan struct{})
		go func() { r.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			r.grpcSrv.Stop()
		}
		r.grpcSrv = nil
	}
	r.servers.Wait()
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	r.senders.Wait()
	r.tel.unobserve()
	for i, q := range r.queues {
		if q != nil { // kept: a handler still running past ctx's deadline gets ErrClosed from it
			errs = append(errs, q.Close())
		}
		if c := r.clients[i]; c != nil {
			errs = append(errs, c.Close(ctx))
			r.clients[i] = nil
		}
	}
	if r.fwd != nil {
		r.fwd.close()
		r.fwd = nil
	}
	if r.pods != nil {
		r.pods.shutdown()
	}
	return errors.Join(errs...)
}

// logsQueue offers the relay's logs queue to the other receivers of the collector (relayqueue):
// the containerlogs receiver queues the requests it encodes there.
type logsQueue struct{ r *relay }

// QueueLogs is queue for logs: checked, stamped, compressed and durable. The relay's metrics
// count the request (vigil_otlprelay_*); the collector's receiver metrics are the caller's.
func (q logsQueue) QueueLogs(ctx context.Context, req []byte) error {
	_, err := q.r.queue(ctx, otlpwire.Logs, req)
	return err
}
