package redconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/vigil-obs/vigil/connectors/redconnector/internal/metadata"
)

// Type is the component type of the connector in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the red connector (traces in, metrics out).
func NewFactory() connector.Factory {
	return connector.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability))
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(set, cfg.(*Config), next)
}
