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
	"k8s.io/client-go/kubernetes"

	"github.com/vigil-obs/vigil/internal/k8spod"
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
	cfg    *Config
	set    receiver.Settings
	next   consumer.Logs
	obs    *receiverhelper.ObsReport
	cut    metric.Int64Counter
	pods   *k8spod.Cache
	kube   kubernetes.Interface // nil: built from pod_metadata.auth_type (tests set it)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
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
	t := newTailer(r.cfg, client, r.emit, r.set.Logger, func(ctx context.Context, reason string, n int) {
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

// resource sets the container's identity: from the path, then from the pod cache.
func (r *containerLogs) resource(attrs pcommon.Map, f *tracked) {
	if f.known {
		attrs.PutStr(attrNamespace, f.ident.Namespace)
		attrs.PutStr(attrPod, f.ident.Pod)
		attrs.PutStr(attrPodUID, f.ident.UID)
		attrs.PutStr(attrContainer, f.ident.Container)
		if f.ident.Restart >= 0 {
			attrs.PutInt(attrRestart, f.ident.Restart)
		}
	}
	if r.pods != nil && f.known {
		if f.pod == nil {
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
		for _, a := range f.pod {
			attrs.PutStr(a.key, a.value)
		}
	}
}
