package k8sauditreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/vigil-obs/vigil/receivers/k8sauditreceiver/internal/metadata"
)

// Type is the component type of the receiver in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the k8saudit receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(createLogs, metadata.LogsStability))
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(set, cfg.(*Config), next)
}
