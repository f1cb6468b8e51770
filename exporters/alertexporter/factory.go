package alertexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
)

// Type is the component type of the exporter in YAML.
var Type = component.MustNewType("alert")

// NewFactory returns the factory of the alert exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		exporter.WithMetrics(createMetrics, component.StabilityLevelAlpha))
}

func createMetrics(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return newExporter(set, cfg.(*Config))
}
