package promrwreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/vigil-obs/vigil/receivers/promrwreceiver/internal/metadata"
)

// Type is the component type of the receiver in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the promrw receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(Type, func() component.Config { return createDefaultConfig() },
		receiver.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(set, cfg.(*Config), next)
}
