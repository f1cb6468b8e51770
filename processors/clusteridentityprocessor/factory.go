package clusteridentityprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/vigil-obs/vigil/processors/clusteridentityprocessor/internal/metadata"
)

// Type is the component type of the processor in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the clusteridentity processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, metadata.LogsStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	e, err := newEnforcer(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &logsProcessor{enforcer: e, next: next}, nil
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	e, err := newEnforcer(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &metricsProcessor{enforcer: e, next: next}, nil
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	e, err := newEnforcer(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{enforcer: e, next: next}, nil
}
