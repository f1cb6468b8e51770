package archiveexporter

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/exporters/archiveexporter/internal/metadata"
	"github.com/vigil-obs/vigil/internal/audit"
	"github.com/vigil-obs/vigil/storage/archive"
	"github.com/vigil-obs/vigil/storage/wal"
)

// openObject is the staged, not yet sealed object of a cluster, as persisted under "open/<cluster>".
type openObject struct {
	Seq    uint64    `json:"seq"`
	Chunks int       `json:"chunks"`
	Bytes  int       `json:"bytes"`
	Events int       `json:"events"`
	Opened time.Time `json:"opened"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	// ReceivedFirst and ReceivedLast bound when vigil received its events (zero in the state of
	// an older version).
	ReceivedFirst time.Time `json:"received_first,omitzero"`
	ReceivedLast  time.Time `json:"received_last,omitzero"`
}

// streamState is what is persisted per cluster besides chunks.
type streamState struct {
	Open   openObject     `json:"open"`
	Sealed []openObject   `json:"sealed"` // sealed, not yet written, oldest first
	Head   *archive.Entry `json:"head"`   // last entry written
	// Writer is the writer whose chain the objects are written to (empty: the stream without
	// writer, and the state of an older version). A state staged under another writer than the
	// configured one writes what it holds to that writer's chain; once empty, at a start, it
	// moves to the configured writer (startStream).
	Writer string `json:"writer,omitempty"`
}

// stream is the archive stream of cluster's state s.
func (e *archiveExporter) stream(cluster string, s *streamState) archive.Stream {
	return archive.Stream{Tenant: e.cfg.Tenant, Cluster: cluster, Writer: s.Writer}
}

// startStream is the state s of cluster loaded at start: with nothing staged under another
// writer than the configured one, a new chain of the configured writer (the old chain was sealed
// when its writer stopped).
func (e *archiveExporter) startStream(cluster string, s *streamState) *streamState {
	if s.Writer == e.cfg.Writer {
		return s
	}
	if len(s.Sealed) > 0 || s.Open.Chunks > 0 {
		e.logger.Info("archive staging of a cluster holds objects of another writer: they are written to its chain first",
			zap.String("cluster", cluster), zap.String("staged_writer", s.Writer), zap.String("writer", e.cfg.Writer))
		return s
	}
	return &streamState{Open: openObject{Seq: 1}, Writer: e.cfg.Writer}
}

type archiveExporter struct {
	cfg    *Config
	id     component.ID
	logger *zap.Logger
	bucket objstore.Bucket
	client storage.Client

	mu      sync.Mutex // streams, keys, and every staging write (one writer per exporter)
	streams map[string]*streamState
	// keys holds, per cluster, the keys (identity.go: of the content) of the audit events staged
	// and of the objects written since start, so that an event the apiserver re-sends (after a
	// timeout, or after a crash that lost the answer) is archived once. Rebuilt from the staged
	// chunks on start.
	// Fixed-size keys (hasher): nothing for the garbage collector to scan.
	keys   map[string]map[audit.Key]struct{}
	hasher audit.KeyHasher
	// indexed holds, per chunk staged since start (by chunkKey), the index fields of its events
	// whose records the audit receiver attested (internal/audit), so that the sealer reads only the
	// other lines to index the object. Dropped when the object is written; at most
	// maxIndexedBytes of fields (past it, while the bucket cannot be written, the sealer reads
	// the chunks staged meanwhile).
	indexed      map[string]*chunkIndex
	indexedBytes int
	// listGen counts the changes of the list of clusters (streamsKey) since start; listDurable is
	// the last one known durable. While they differ — a staging write that added a cluster
	// failed, or is not known to be written — every staging write carries the list, so that a
	// cluster whose state is durable is never missing from it (it would be ignored at start).
	listGen, listDurable uint64

	stop    chan struct{}
	done    chan struct{}
	sealBuf []byte // the sealer's buffer for an object's staged chunks (readChunks)
	objects metric.Int64Counter
	events  metric.Int64Counter
	lag     metric.Float64Histogram

	sealKey  ed25519.PrivateKey
	sealed   map[string]sealMark // per cluster: the last seal written since start
	sealedTo metric.Int64Gauge

	telemetry *metadata.TelemetryBuilder // its oldest-age callback is registered from Start to Shutdown
}

func newExporter(set exporter.Settings, cfg *Config) (*archiveExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &archiveExporter{cfg: cfg, id: set.ID, logger: set.Logger, streams: map[string]*streamState{},
		keys: map[string]map[audit.Key]struct{}{}, hasher: audit.NewKeyHasher(), indexed: map[string]*chunkIndex{},
		objects: tb.ArchiveObjectsWritten, events: tb.ArchiveEventsWritten, lag: tb.ArchiveDeliveryLagSeconds,
		sealed: map[string]sealMark{}, sealedTo: tb.ArchiveSealedEntry, telemetry: tb}, nil
}

const streamsKey = "streams"

// maxKeys bounds the de-duplication keys kept per cluster (~40 MB at most).
const maxKeys = 1 << 20

// maxIndexedBytes bounds the staged fields of attested events kept for the sealer (indexed): about
// 130 bytes an event, so the objects of some 500,000 events.
var maxIndexedBytes = 64 << 20

func stateKey(cluster string) string { return "state/" + cluster }
func chunkKey(cluster string, seq uint64, i int) string {
	return "chunk/" + cluster + "/" + strconv.FormatUint(seq, 10) + "/" + strconv.Itoa(i)
}

// Start opens the bucket and the staging storage, reloads the staged streams and starts the
// sealer, which first writes what a previous run sealed or left open.
func (e *archiveExporter) Start(ctx context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[e.cfg.Storage]
	if !ok {
		return fmt.Errorf("storage: extension %q is not configured (add it under extensions and service.extensions)", e.cfg.Storage)
	}
	st, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %q is not a storage extension", e.cfg.Storage)
	}
	client, err := st.GetClient(ctx, component.KindExporter, e.id, "archive")
	if err != nil {
		return err
	}
	if e.cfg.SealKeyFile != "" {
		if e.sealKey, err = archive.LoadPrivateKey(e.cfg.SealKeyFile); err != nil {
			return fmt.Errorf("seal_key_file: %w", err)
		}
	}
	bkt, err := e.cfg.OpenBucket()
	if err != nil {
		return err
	}
	e.client, e.bucket = client, bkt
	raw, err := client.Get(ctx, streamsKey)
	if err != nil {
		return err
	}
	var clusters []string
	if raw != nil {
		if err := json.Unmarshal(raw, &clusters); err != nil {
			return fmt.Errorf("cannot read the archive staging index: %w", err)
		}
	}
	for _, c := range clusters {
		raw, err := client.Get(ctx, stateKey(c))
		if err != nil {
			return err
		}
		s := &streamState{}
		if raw != nil {
			if err := json.Unmarshal(raw, s); err != nil {
				return fmt.Errorf("cannot read the archive staging state of cluster %q: %w", c, err)
			}
		}
		s = e.startStream(c, s)
		e.streams[c] = s
		if err := e.loadKeys(ctx, c, s); err != nil {
			return err
		}
	}
	if err = e.telemetry.RegisterArchiveOldestAgeSecondsCallback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(e.oldestStagedAge(time.Now()).Seconds())
		return nil
	}); err != nil {
		return fmt.Errorf("cannot register the callback of vigil_archive_oldest_age_seconds: %w", err)
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.sealLoop()
	return nil
}

// oldestStagedAge is now minus the earliest Opened of the objects not yet written, over all
// clusters: in each, the first sealed object or else the open one (objects are sealed and
// written in the order they were opened); 0 when nothing is staged.
func (e *archiveExporter) oldestStagedAge(now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var oldest time.Time
	for _, s := range e.streams {
		o := s.Open
		if len(s.Sealed) > 0 {
			o = s.Sealed[0]
		} else if o.Chunks == 0 {
			continue
		}
		if !o.Opened.IsZero() && (oldest.IsZero() || o.Opened.Before(oldest)) {
			oldest = o.Opened
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(oldest))
}

// Shutdown seals every open object and writes what it can before ctx ends; what it cannot write
// stays staged for the next start. Idempotent; safe before Start.
func (e *archiveExporter) Shutdown(ctx context.Context) error {
	if e.stop == nil {
		return nil
	}
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	<-e.done
	err := e.flush(ctx, true)
	if err == nil {
		err = e.sealChains(ctx, true)
	}
	e.telemetry.Shutdown()
	if e.client != nil {
		err = errors.Join(err, e.client.Close(ctx))
	}
	return err
}

func (e *archiveExporter) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// ConsumeLogs stages the events durably, per cluster, and returns once they are fsync'd.
//
// With walstorage the staging write is enqueued under e.mu, which keeps the writes in the order
// of the state they record, and waited for outside it: concurrent calls share fsyncs (group
// commit) instead of taking turns. The in-memory state moves on when the write is enqueued;
// batches are written in order, so whatever reads the staged chunks after its own durable write
// (the sealer) finds them. If the wait fails, the keys of the call are forgotten so that a retry
// stages the events again.
//
// When the request's context carries a wal.Deferred (the audit webhook, receivers behind the
// walstorage middleware), the wait is left to it: the receiver waits once for every destination.
//
// A staging write that fails (a full disk) is refused as a whole, and the log writes again once
// it can: the keys of the call are then forgotten, whoever waits, so that the retry the client
// makes after its 503 stages the events again; the chunk the in-memory state already counted is
// absent, and the sealer skips it (readChunks).
func (e *archiveExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	wait, added, listGen, err := e.stage(ctx, ld)
	if err != nil || wait == nil {
		return err
	}
	waitOrForget := func(ctx context.Context) error {
		err := wait(ctx)
		if err != nil { // refused, or the outcome is unknown: a duplicate rather than a loss
			e.forget(added)
		} else if listGen > 0 {
			e.listWritten(listGen)
		}
		return err
	}
	if d := wal.DeferredFrom(ctx); d != nil {
		d.AddWait(waitOrForget)
		return nil
	}
	if err := waitOrForget(ctx); err != nil {
		return fmt.Errorf("cannot stage audit events for the archive: %w", err)
	}
	return nil
}

// listWritten records that the list of clusters of generation gen is durable.
func (e *archiveExporter) listWritten(gen uint64) {
	e.mu.Lock()
	e.listDurable = max(e.listDurable, gen)
	e.mu.Unlock()
}

// forget drops the de-duplication keys of events whose staging write failed.
func (e *archiveExporter) forget(added map[string][]audit.Key) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c, keys := range added {
		for _, k := range keys {
			delete(e.keys[c], k)
		}
	}
}

// enqueuer is the part of walstorage's client that writes without waiting (see Enqueue there).
type enqueuer interface {
	Enqueue(ops ...*storage.Operation) (wait func(context.Context) error, err error)
}

// batch is what one ConsumeLogs call stages for one cluster: a chunk per hour of its events, in
// the order of the hours' first events.
type batch struct {
	chunks []*chunk
	byHour map[int64]*chunk
	keys   map[audit.Key]struct{} // of the events in chunks
}

// chunkFor is the chunk of hour, added when new; size is the likely size of the first one (the
// events are mostly of one hour).
func (b *batch) chunkFor(hour int64, size int) *chunk {
	c := b.byHour[hour]
	if c == nil {
		c = &chunk{hour: hour}
		if len(b.chunks) == 0 {
			c.data = make([]byte, 0, size)
		}
		b.byHour[hour] = c
		b.chunks = append(b.chunks, c)
	}
	return c
}

// stage builds the staging write of ld and, with an enqueuer, enqueues it and returns the wait,
// the keys it added and the generation of the list of clusters it writes (0: none); without, it
// writes it (wait is nil).
//
// An object holds the events of one hour (UTC), the hour its name says: the events of each hour
// go to their own chunk, and a chunk of another hour than the open object's seals it (in the same
// staging write) and opens the next one. Events out of hour order thus make smaller objects, never
// an object named after an hour its events are not of.
func (e *archiveExporter) stage(ctx context.Context, ld plog.Logs) (func(context.Context) error, map[string][]audit.Key, uint64, error) {
	byCluster := map[string]*batch{}
	atts := checkAttestations(ld) // before the lock, under which the staging writes take turns
	n := 0                        // the record's place in ld, for atts
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		cluster := "unknown"
		if v, ok := rl.Resource().Attributes().Get("k8s.cluster.name"); ok && v.AsString() != "" {
			cluster = v.AsString()
		}
		b := byCluster[cluster]
		if b == nil {
			b = &batch{byHour: map[int64]*chunk{}, keys: map[audit.Key]struct{}{}}
			byCluster[cluster] = b
		}
		size := 0
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				size += len(lrs.At(k).Body().Str()) + 1
			}
		}
		seen := e.keys[cluster]
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				att := &atts[n]
				n++
				line, rewritten := stagedLine(lr)
				identified := isAuditEvent(lr)
				var key audit.Key
				if identified {
					key = e.hasher.String(line)
					if _, dup := seen[key]; dup {
						continue // already archived or staged
					}
					if _, dup := b.keys[key]; dup {
						continue
					}
					b.keys[key] = struct{}{}
				}
				t := eventTime(lr, now)
				b.chunkFor(hourOf(t), size).add(line, rewritten, t, receivedTime(lr, now), key, identified, att)
			}
		}
		if len(b.chunks) == 0 {
			delete(byCluster, cluster)
		}
	}
	clusters := make([]string, 0, len(byCluster))
	for c := range byCluster {
		clusters = append(clusters, c)
	}
	sort.Strings(clusters)
	if len(clusters) == 0 {
		return nil, nil, 0, nil
	}
	var ops []*storage.Operation
	newStreams := false
	updated := map[string]streamState{}
	for _, cluster := range clusters {
		s, ok := e.streams[cluster]
		if !ok {
			s = &streamState{Open: openObject{Seq: 1}, Writer: e.cfg.Writer}
			newStreams = true
		}
		next := *s
		for _, c := range byCluster[cluster].chunks {
			o := &next.Open
			if o.Chunks > 0 && hourOf(o.First) != c.hour {
				next.Sealed = append(append([]openObject(nil), next.Sealed...), *o)
				next.Open = openObject{Seq: o.Seq + 1}
			}
			if o.Chunks == 0 {
				o.Opened, o.First, o.Last = now.UTC(), c.first, c.last
				o.ReceivedFirst, o.ReceivedLast = c.receivedFirst, c.receivedLast
			}
			c.key = chunkKey(cluster, o.Seq, o.Chunks)
			ops = append(ops, storage.SetOperation(c.key, c.data))
			o.Chunks++
			o.Bytes += len(c.data)
			o.Events += c.events
			if c.first.Before(o.First) {
				o.First = c.first
			}
			if c.last.After(o.Last) {
				o.Last = c.last
			}
			if o.ReceivedFirst.IsZero() || c.receivedFirst.Before(o.ReceivedFirst) { // zero: staged by an older version
				o.ReceivedFirst = c.receivedFirst
			}
			if c.receivedLast.After(o.ReceivedLast) {
				o.ReceivedLast = c.receivedLast
			}
		}
		b, _ := json.Marshal(next)
		ops = append(ops, storage.SetOperation(stateKey(cluster), b))
		updated[cluster] = next
	}
	var listGen uint64
	if newStreams {
		e.listGen++
	}
	if e.listDurable < e.listGen {
		listGen = e.listGen
		all := make([]string, 0, len(e.streams)+len(clusters))
		for c := range e.streams {
			all = append(all, c)
		}
		for c := range updated {
			if _, ok := e.streams[c]; !ok {
				all = append(all, c)
			}
		}
		sort.Strings(all)
		b, _ := json.Marshal(all)
		ops = append(ops, storage.SetOperation(streamsKey, b))
	}
	var wait func(context.Context) error
	if q, ok := e.client.(enqueuer); ok {
		var err error
		if wait, err = q.Enqueue(ops...); err != nil {
			return nil, nil, 0, fmt.Errorf("cannot stage audit events for the archive: %w", err)
		}
	} else if err := e.client.Batch(ctx, ops...); err != nil {
		return nil, nil, 0, fmt.Errorf("cannot stage audit events for the archive: %w", err)
	} else {
		e.listDurable = max(e.listDurable, listGen)
	}
	added := make(map[string][]audit.Key, len(updated))
	for c, s := range updated {
		e.streams[c] = &s
		if e.keys[c] == nil {
			e.keys[c] = map[audit.Key]struct{}{}
		}
		if len(e.keys[c]) > maxKeys { // bound the memory: forget the keys of written objects
			e.keys[c] = map[audit.Key]struct{}{}
		}
		for _, ch := range byCluster[c].chunks {
			for _, k := range ch.keys {
				e.keys[c][k] = struct{}{}
			}
			added[c] = append(added[c], ch.keys...)
			if ch.attested != nil && e.indexedBytes+ch.attested.Size() <= maxIndexedBytes {
				e.indexed[ch.key] = &chunkIndex{fields: ch.attested, unattested: ch.unattested, lines: ch.events}
				e.indexedBytes += ch.attested.Size()
			}
		}
	}
	return wait, added, listGen, nil
}

// loadKeys rebuilds the keys of cluster from its staged chunks.
func (e *archiveExporter) loadKeys(ctx context.Context, cluster string, s *streamState) error {
	keys := map[audit.Key]struct{}{}
	for _, o := range append(append([]openObject(nil), s.Sealed...), s.Open) {
		for i := range o.Chunks {
			data, err := e.client.Get(ctx, chunkKey(cluster, o.Seq, i))
			if err != nil {
				return err
			}
			for _, line := range archive.SplitLines(data) {
				if isAuditLine(line) {
					keys[e.hasher.Bytes(line)] = struct{}{}
				}
			}
		}
	}
	e.keys[cluster] = keys
	return nil
}
