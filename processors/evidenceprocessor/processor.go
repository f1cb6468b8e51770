package evidenceprocessor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/vigil-obs/vigil/exporters/lokipushexporter"
	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/processors/evidenceprocessor/internal/metadata"
)

// Type is the component type of the processor in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the evidence processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	r := &recorder{id: cfg.(*Config).Extension}
	return processorhelper.NewLogs(ctx, set, cfg, next, r.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		processorhelper.WithStart(r.start))
}

type recorder struct {
	id    component.ID
	index *evidenceextension.Index // set by start
}

func (r *recorder) start(_ context.Context, host component.Host) error {
	x, ok := evidenceextension.Find(host, r.id)
	if !ok {
		return fmt.Errorf("cannot start the evidence processor: extension %q is not an evidence extension listed in service.extensions", r.id)
	}
	r.index = x
	return nil
}

func (r *recorder) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	now := time.Now()
	for _, rl := range ld.ResourceLogs().All() {
		var res evidenceextension.Resource
		resolved := false
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				level := lokipushexporter.Level(lr)
				if level != evidenceextension.LevelWarn && level != evidenceextension.LevelError && level != evidenceextension.LevelFatal {
					continue
				}
				if !resolved {
					res, resolved = resourceOf(rl.Resource().Attributes()), true
				}
				t := lr.Timestamp()
				if t == 0 {
					t = lr.ObservedTimestamp()
				}
				at := now
				if t != 0 {
					at = t.AsTime()
				}
				r.index.Record(res, at, level, lr.Body().AsString())
			}
		}
	}
	return ld, nil
}

func resourceOf(attrs pcommon.Map) evidenceextension.Resource {
	get := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	return evidenceextension.Resource{
		Cluster: get("k8s.cluster.name"), Namespace: get("k8s.namespace.name"), Pod: get("k8s.pod.name"),
		Service: get("service.name"), Instance: get("service.instance.id"),
	}
}
