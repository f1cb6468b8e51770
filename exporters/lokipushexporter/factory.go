package lokipushexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-obs/vigil/exporters/lokipushexporter/internal/metadata"
)

// Type is the component type of the exporter in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the lokipush exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(set, c)
	if err != nil {
		return nil, err
	}
	// The queue holds the logs as they arrived (pdata's own encoding on a storage extension);
	// they are turned into push requests when sent. The HTTP client has its own timeout.
	return exporterhelper.NewLogs(ctx, set, cfg, e.push,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithRetry(c.RetryConfig))
}
