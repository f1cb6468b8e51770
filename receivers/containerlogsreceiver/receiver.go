package containerlogsreceiver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigil-obs/vigil/internal/k8spod"
	"github.com/vigil-obs/vigil/internal/relayqueue"
	"github.com/vigil-obs/vigil/receivers/containerlogsreceiver/internal/metadata"
)

// Resource and record attributes.
const (
	attrNamespace = "k8s.namespace.name"
	attrPod       = "k8s.pod.name"
	attrPodUID    = "k8s.pod.uid"
	attrContainer = "k8s.container.name"
	attrRestart   = "k8s.container.restart_count"
	attrStream    = "log.iostream"
	attrFilePath  = "log.file.path"
	scopeName     = "github.com/vigil-obs/vigil/receivers/containerlogsreceiver"
)

type containerLogs struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs
	obs  *receiverhelper.ObsReport
	cut  metric.Int64Counter
	pods *k8spod.Cache
	kube k8spod.Pods // nil: built from pod_metadata.auth_type (tests set it)
	// storage is the storage extension, which with cfg.Relay names the relay's queue (relayqueue).
	storage component.Component
	wire    wireEncoder // the requests queued in the relay
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*containerLogs, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "file", ReceiverCreateSettings: set})
	if err != nil {
		return nil, err
	}
	r := &containerLogs{cfg: cfg, set: set, next: next, obs: obs}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r.cut = tb.ContainerlogsDiscardedLines
	return r, nil
}

// Start starts following the files in the background; it returns once their positions are
// readable.
func (r *containerLogs) Start(ctx context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[*r.cfg.Storage]
	if !ok {
		return fmt.Errorf("storage: extension %q is not configured", *r.cfg.Storage)
	}
	st, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %q is not a storage extension", *r.cfg.Storage)
	}
	client, err := st.GetClient(ctx, component.KindReceiver, r.set.ID, "files")
	if err != nil {
		return fmt.Errorf("cannot open the files' positions: %w", err)
	}
	if r.cfg.PodMetadata.Enabled {
		pm := r.cfg.PodMetadata
		pm.KeepAnnotations = r.cfg.ExcludePodAnnotations
		if r.pods, err = k8spod.StartCache(ctx, r.kube, pm, r.cfg.NodeName, r.set.Logger); err != nil {
			_ = client.Close(ctx)
			return fmt.Errorf("cannot start the pod cache (pod_metadata): %w", err)
		}
	}
	emit := r.emit
	if r.cfg.Relay != nil {
		r.storage, emit = ext, r.emitToRelay
	}
	t := newTailer(r.cfg, client, emit, r.set.Logger, func(ctx context.Context, reason string, n int) {
		r.cut.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
	})
	if r.pods != nil && len(r.cfg.ExcludePodAnnotations) > 0 {
		t.skip = r.excluded
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() {
		t.run(runCtx)
		_ = client.Close(context.Background())
	})
	return nil
}

// Shutdown stops reading, waits for the batch being passed on, and closes every file. It is
// idempotent and safe before Start.
func (r *containerLogs) Shutdown(context.Context) error {
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		r.wg.Wait()
		if r.pods != nil {
			r.pods.Shutdown()
		}
	})
	return nil
}

// emit turns the records of each file into one resource's logs and passes them on.
func (r *containerLogs) emit(ctx context.Context, files []*tracked, records [][]Record) error {
	ld := plog.NewLogs()
	now := pcommon.NewTimestampFromTime(time.Now())
	n := 0
	for i, f := range files {
		rl := ld.ResourceLogs().AppendEmpty()
		r.resource(rl.Resource().Attributes(), f)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scopeName)
		lrs := sl.LogRecords()
		lrs.EnsureCapacity(len(records[i]))
		for _, rec := range records[i] {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(rec.Time))
			lr.SetObservedTimestamp(now)
			lr.Body().SetStr(string(rec.Body))
			num, text := severity(rec.Stream, rec.Body)
			lr.SetSeverityNumber(num)
			lr.SetSeverityText(text)
			lr.Attributes().PutStr(attrStream, rec.Stream)
			lr.Attributes().PutStr(attrFilePath, f.path)
			n++
		}
	}
	obsCtx := r.obs.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(ctx, ld)
	r.obs.EndLogsOp(obsCtx, "container", n, err)
	return err
}

// relayWait bounds how long emitToRelay waits for the relay to start (receivers start in no set
// order) before it reports an error; the tailer then reads the records again at its next poll.
const relayWait = 5 * time.Second

// emitToRelay encodes the records of each file as one resource's logs of an OTLP request and
// puts it in the durable logs queue of the relay (relay: otlprelay), which forwards it as it is.
func (r *containerLogs) emitToRelay(ctx context.Context, files []*tracked, records [][]Record) error {
	n := 0
	for _, rs := range records {
		n += len(rs)
	}
	obsCtx := r.obs.StartLogsOp(ctx)
	q, err := r.relayQueue(ctx)
	if err == nil {
		err = q.QueueLogs(ctx, r.wire.encode(r, files, records, time.Now()))
		if cap(r.wire.buf) > 4*r.cfg.MaxBatchBytes { // a batch of many tiny records: do not keep its buffer
			r.wire.buf = nil
		}
	}
	r.obs.EndLogsOp(obsCtx, "container", n, err)
	return err
}

// relayQueue finds the relay's logs queue, waiting up to relayWait for it to start.
func (r *containerLogs) relayQueue(ctx context.Context) (relayqueue.Logs, error) {
	deadline := time.Now().Add(relayWait)
	for {
		if q, ok := relayqueue.Find(r.storage, *r.cfg.Relay); ok {
			return q, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("relay: the otlprelay receiver %q does not run: it must be in a logs pipeline and use storage %q", r.cfg.Relay, r.cfg.Storage)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// excluded reports whether the pod of a container's file is annotated not to be followed. A pod
// the cache does not know (yet) is followed: its lines are not lost.
func (r *containerLogs) excluded(id identity) bool {
	for _, key := range r.cfg.ExcludePodAnnotations {
		if v, ok := r.pods.Annotation(id.UID, key); ok && strings.EqualFold(strings.TrimSpace(v), "true") {
			return true
		}
	}
	return false
}

// resource sets the container's identity (resourceAttrs) in attrs.
func (r *containerLogs) resource(attrs pcommon.Map, f *tracked) {
	for _, a := range r.resourceAttrs(nil, f) {
		if a.isInt {
			attrs.PutInt(a.key, a.num)
		} else {
			attrs.PutStr(a.key, a.str)
		}
	}
}

// resourceAttrs appends the container's identity to dst: from the path, then from the pod
// cache; a key set twice keeps its place and takes the later value (as pcommon.Map's Put).
func (r *containerLogs) resourceAttrs(dst []wireAttr, f *tracked) []wireAttr {
	if !f.known {
		return dst
	}
	dst = append(dst, wireAttr{key: attrNamespace, str: f.ident.Namespace}, wireAttr{key: attrPod, str: f.ident.Pod},
		wireAttr{key: attrPodUID, str: f.ident.UID}, wireAttr{key: attrContainer, str: f.ident.Container})
	if f.ident.Restart >= 0 {
		dst = append(dst, wireAttr{key: attrRestart, num: f.ident.Restart, isInt: true})
	}
	if r.pods != nil && f.pod == nil { // f.pod: the pod's attributes, looked up once
		if pod := r.pods.Find(func(k string) (string, bool) {
			if k == k8spod.AttrPodUID {
				return f.ident.UID, true
			}
			return "", false
		}, ""); pod != nil {
			for _, a := range r.pods.AppendAttributes(nil, pod) {
				f.pod = append(f.pod, attr{a.Key, a.Value})
			}
		}
	}
next:
	for _, a := range f.pod {
		for i := range dst {
			if dst[i].key == a.key {
				dst[i] = wireAttr{key: a.key, str: a.value}
				continue next
			}
		}
		dst = append(dst, wireAttr{key: a.key, str: a.value})
	}
	return dst
}
