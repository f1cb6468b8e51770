package walstorageextension

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/extensions/walstorageextension/internal/metadata"
	"github.com/vigil-obs/vigil/storage/wal"
)

// Type is the component type of the extension in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the walstorage extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, func() component.Config { return createDefaultConfig() }, create, metadata.ExtensionStability)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return &walStorage{cfg: cfg.(*Config), set: set}, nil
}

type walStorage struct {
	cfg *Config
	set extension.Settings

	mu        sync.Mutex
	log       *wal.Log
	telemetry *metadata.TelemetryBuilder

	// The status reporter: the log signals changed when its writes start or stop failing.
	changed chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

var _ storage.Extension = (*walStorage)(nil)

// Start opens (and replays) the log and starts reporting its health: a recoverable error while
// its writes fail (a full disk), OK again once a write succeeds.
func (s *walStorage) Start(_ context.Context, host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := make(chan struct{}, 1)
	l, err := wal.Open(s.cfg.Directory, wal.Options{MaxBytes: s.cfg.MaxBytes, SegmentBytes: s.cfg.SegmentBytes,
		WriteStateChanged: func(error) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		return fmt.Errorf("cannot open the durable queue in %q (walstorage directory): %w", s.cfg.Directory, err)
	}
	tb, err := s.registerMetrics(l)
	if err != nil {
		_ = l.Close()
		return err
	}
	s.log, s.telemetry = l, tb
	s.changed, s.stop, s.done = changed, make(chan struct{}), make(chan struct{})
	go s.reportStatus(host, l)
	return nil
}

func (s *walStorage) registerMetrics(l *wal.Log) (*metadata.TelemetryBuilder, error) {
	tb, err := metadata.NewTelemetryBuilder(s.set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	observe := func(v func() int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(v())
			return nil
		}
	}
	err = errors.Join(
		tb.RegisterWalstorageDiskBytesCallback(observe(l.DiskBytes)),
		tb.RegisterWalstorageKeysCallback(observe(func() int64 { return int64(l.Len()) })),
		tb.RegisterWalstorageFsyncsCallback(observe(func() int64 { return l.Stats().Commits })),
		tb.RegisterWalstorageBatchesCallback(observe(func() int64 { return l.Stats().Batches })),
		tb.RegisterWalstorageFailedBatchesCallback(func(_ context.Context, o metric.Int64Observer) error {
			for reason, n := range l.Stats().FailedBatches {
				o.Observe(n, metric.WithAttributes(attribute.String("reason", reason)))
			}
			return nil
		}),
		tb.RegisterWalstorageWriteFailingCallback(observe(func() int64 {
			if l.WriteErr() != nil {
				return 1
			}
			return 0
		})),
	)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return tb, nil
}

// probeInterval is how often, while the log's writes fail, a small write probes whether it can
// write again: the status turns OK once space is back even when no writer tries (a replica that
// its readiness probe took out of its Service gets no requests).
var probeInterval = time.Second

// probeKey is the key the probe writes delete: outside the prefixes of the clients (which start
// with a component kind), so no component sees it. A delete is taken even past max_bytes, and
// leaves nothing behind.
const probeKey = ".walstorage/write-probe"

// reportStatus reports the component status of the extension when the log's writes start
// failing (StatusRecoverableError, with the error) and when it can take data again
// (StatusOK), so that the health_check extension answers unhealthy meanwhile. It runs until
// Shutdown.
//
// Taking data again means a write succeeded and the file system has at least segment_bytes
// free: on a nearly full disk small writes (a queue's bookkeeping) succeed while batches fail,
// and the status would flap. While failing it checks every probeInterval, and when there is room
// it probes with a tiny write, so recovery is seen even when no client writes.
func (s *walStorage) reportStatus(host component.Host, l *wal.Log) {
	defer close(s.done)
	failing := false
	var probe *time.Ticker
	defer func() {
		if probe != nil {
			probe.Stop()
		}
	}()
	var probeC <-chan time.Time
	for {
		tick := false
		select {
		case <-s.stop:
			return
		case <-s.changed:
		case <-probeC:
			tick = true
		}
		err := l.WriteErr()
		switch {
		case !failing && err != nil:
			failing = true
			s.set.Logger.Error("the durable queue cannot write: receivers refuse data (503/UNAVAILABLE) until a write succeeds again",
				zap.String("directory", s.cfg.Directory), zap.String("reason", wal.FailureReason(err)), zap.Error(err))
			componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(
				fmt.Errorf("cannot write the durable queue in %q (walstorage directory): %w", s.cfg.Directory, err)))
			probe = time.NewTicker(probeInterval)
			probeC = probe.C
		case failing && s.roomy():
			if err != nil {
				if tick {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_ = l.Apply(ctx, []wal.Op{{Key: probeKey, Delete: true}}) // a success signals changed
					cancel()
				}
				continue
			}
			failing = false
			s.set.Logger.Info("the durable queue writes again", zap.String("directory", s.cfg.Directory))
			componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
			probe.Stop()
			probe, probeC = nil, nil
		}
	}
}

// roomy reports whether the file system of the log has at least segment_bytes free (true when
// it cannot tell).
func (s *walStorage) roomy() bool {
	var st unix.Statfs_t
	if err := unix.Statfs(s.cfg.Directory, &st); err != nil {
		return true
	}
	return int64(st.Bavail)*int64(st.Bsize) >= s.cfg.SegmentBytes //nolint:gosec // block counts fit
}

// Shutdown closes the log after what is pending is written; safe before Start and idempotent.
func (s *walStorage) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return nil
	}
	close(s.stop)
	<-s.done
	err := s.log.Close()
	s.telemetry.Shutdown()
	s.log = nil
	return err
}

// GetClient returns the storage of one component: its keys live under their own prefix.
func (s *walStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return nil, errors.New("walstorage is not started")
	}
	return &client{log: s.log, prefix: fmt.Sprintf("%s/%s/%s/", kind.String(), id.String(), name),
		queue: queueClients[name]}, nil
}

// queueClients are the names the collector's persistent sending queue asks its storage client
// by (the signal).
var queueClients = map[string]bool{"logs": true, "metrics": true, "traces": true, "profiles": true}

// client is the storage.Client of one component. Safe for concurrent use.
//
// The client of a persistent sending queue (queue) writes its bookkeeping — read positions,
// removal of delivered items: batches that create no key — without waiting for the fsync: the
// queue holds its lock through every storage call, and what such a write loses at a crash is
// only that an item is delivered again, which destinations absorb (OpenSearch _id, archive object
// names). A batch that adds an item waits for its fsync, unless the request's context carries a
// wal.Deferred: then the receiver waits, once for all the writes of the request, before it
// acknowledges. Batches become durable in the order they were enqueued.
type client struct {
	log    *wal.Log
	prefix string
	queue  bool
}

func (c *client) Get(_ context.Context, key string) ([]byte, error) {
	return c.log.Get(c.prefix + key)
}

// GetAppend is Get that appends the value to dst, for callers that reuse a buffer (storage/fifo);
// ok reports whether key is set.
func (c *client) GetAppend(dst []byte, key string) ([]byte, bool, error) {
	return c.log.GetAppend(dst, c.prefix+key)
}

// GetPrefix reads at most n bytes of the start of the value and its size (storage/fifo's
// recovery reads only its items' headers); ok reports whether key is set.
func (c *client) GetPrefix(key string, n int) ([]byte, int, bool, error) {
	return c.log.GetPrefix(c.prefix+key, n)
}

func (c *client) Set(ctx context.Context, key string, value []byte) error {
	return c.apply(ctx, []wal.Op{{Key: c.prefix + key, Value: value}})
}

func (c *client) Delete(ctx context.Context, key string) error {
	return c.apply(ctx, []wal.Op{{Key: c.prefix + key, Delete: true}})
}

// Batch runs ops in order: writes are grouped into one durable batch, and a Get sees the writes
// before it.
func (c *client) Batch(ctx context.Context, ops ...*storage.Operation) error {
	var writes []wal.Op
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			if err := c.write(ctx, writes); err != nil {
				return err
			}
			writes = nil
			v, err := c.log.Get(c.prefix + op.Key)
			if err != nil {
				return err
			}
			op.Value = v
		case storage.Set, storage.Delete:
			writes = append(writes, c.walOp(op))
		default:
			return fmt.Errorf("unknown storage operation type %d", op.Type)
		}
	}
	return c.write(ctx, writes)
}

// write makes ops durable (apply), or for a queue client enqueues them and leaves the wait to
// the request's wal.Deferred or to nobody (see client).
func (c *client) write(ctx context.Context, ops []wal.Op) error {
	if len(ops) == 0 {
		return nil
	}
	if !c.queue {
		return c.apply(ctx, ops)
	}
	d := wal.DeferredFrom(ctx)
	creates := c.log.CreatesKey(ops)
	if creates && d == nil {
		return c.apply(ctx, ops)
	}
	p, err := c.log.Enqueue(ops)
	if err != nil {
		return reported(err)
	}
	if creates {
		d.Add(p)
	}
	return nil
}

// Enqueue hands writes (Set and Delete operations) to the log as one atomic batch and returns
// at once; the returned wait blocks until the batch is durable. Batches are written in the order
// they were enqueued, so a caller that enqueues under its own lock keeps its order without
// holding the lock through the fsync, and concurrent callers share fsyncs. A full queue is
// reported (by Enqueue) as ResourceExhausted, like Batch does. vigil's components use it when
// their storage extension offers it (an interface check); other storage extensions lack it.
func (c *client) Enqueue(ops ...*storage.Operation) (wait func(context.Context) error, err error) {
	writes := make([]wal.Op, 0, len(ops))
	for _, op := range ops {
		if op.Type != storage.Set && op.Type != storage.Delete {
			return nil, fmt.Errorf("cannot enqueue storage operation type %d: only writes", op.Type)
		}
		writes = append(writes, c.walOp(op))
	}
	p, err := c.log.Enqueue(writes)
	if err != nil {
		return nil, reported(err)
	}
	return p.Wait, nil
}

// walOp is a Set or Delete operation as the log's op, under the client's prefix.
func (c *client) walOp(op *storage.Operation) wal.Op {
	if op.Type == storage.Delete {
		return wal.Op{Key: c.prefix + op.Key, Delete: true}
	}
	return wal.Op{Key: c.prefix + op.Key, Value: op.Value}
}

// apply writes ops durably.
func (c *client) apply(ctx context.Context, ops []wal.Op) error {
	return reported(c.log.Apply(ctx, ops))
}

// reported is a log error as the client reports it: a full queue as ResourceExhausted, so that
// receivers answer 429 (HTTP) / RESOURCE_EXHAUSTED (gRPC) and clients retry later.
func reported(err error) error {
	if errors.Is(err, wal.ErrFull) {
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return err
}

func (c *client) Close(context.Context) error { return nil }
