package fluentk8sprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/vigil-obs/vigil/internal/fluentk8s"
	"github.com/vigil-obs/vigil/processors/fluentk8sprocessor/internal/metadata"
)

// Type is the component type of the processor in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the fluentk8s processor (logs only).
func NewFactory() processor.Factory {
	return processor.NewFactory(Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c := cfg.(*Config)
	p := &fluentProcessor{cluster: c.Cluster, mapper: fluentk8s.New(c.Labels)}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
