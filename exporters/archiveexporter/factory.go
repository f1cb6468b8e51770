package archiveexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"

	"github.com/vigil-obs/vigil/exporters/archiveexporter/internal/metadata"
)

// Type is the component type of the exporter in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the archive exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	return newExporter(set, cfg.(*Config))
}
