package lokipushexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

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
	// The queue holds the push requests, one per tenant, translated and compressed once as the
	// logs arrive (request.go). The HTTP client has its own timeout.
	return xexporterhelper.NewLogsRequest(ctx, set, e.toRequest, e.pushRequest,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		xexporterhelper.WithQueueBatch(c.QueueConfig, xexporterhelper.QueueBatchSettings{Encoding: lokiEncoding{e}}),
		exporterhelper.WithRetry(c.RetryConfig))
}
