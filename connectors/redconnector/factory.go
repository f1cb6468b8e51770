package redconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
)

// Type is the component type of the connector in YAML.
var Type = component.MustNewType("red")

// scopeName is the instrumentation scope of the connector's own telemetry. The RED metrics carry
// the spanmetrics connector's scope name (spanmetricsconnector), as exporters may turn it into a
// label (otel_scope_name).
const scopeName = "github.com/vigil-obs/vigil/connectors/redconnector"

// NewFactory returns the factory of the red connector (traces in, metrics out).
func NewFactory() connector.Factory {
	return connector.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		connector.WithTracesToMetrics(createTracesToMetrics, component.StabilityLevelBeta))
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(set, cfg.(*Config), next)
}
