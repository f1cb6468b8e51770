package promrwexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

	"github.com/vigil-obs/vigil/exporters/promrwexporter/internal/metadata"
)

// Type is the component type of the exporter in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the promrw exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e := newExporter(set, c)
	// The queue holds the remote-write requests, translated and compressed once as the metrics
	// arrive (request.go).
	return xexporterhelper.NewMetricsRequest(ctx, set, e.toRequest, e.pushRequest,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		// translate changes the batch in place (and puts the resources back): the pipeline copies a
		// batch for the exporter only when another consumer shares it.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		xexporterhelper.WithQueueBatch(c.QueueConfig, xexporterhelper.QueueBatchSettings{Encoding: rwEncoding{e}}),
		exporterhelper.WithRetry(c.RetryConfig))
}
