package federateexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-obs/vigil/exporters/federateexporter/internal/metadata"
)

// Type is the component type of the exporter in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the federate exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, createDefaultConfig,
		exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := newExporter(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.consume,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		// Translate renames the resources' identity attributes in place and puts them back.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
	) // no queue: the latest values are kept as they arrive

}
