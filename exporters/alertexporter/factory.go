package alertexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"

	"github.com/vigil-obs/vigil/exporters/alertexporter/internal/metadata"
)

// Type is the component type of the exporter in YAML.
var Type = metadata.Type

// FactoryOption configures NewFactory.
type FactoryOption func(*Config)

// WithRuleFilesChecked makes the Validate of the factory's configurations report every problem
// of every rule file, with file, line, group and rule: what `vigil validate` does, with the same
// check as `vigil rules check` and as the exporter when it loads rules. Without it (running
// vigil), rule file problems are reported at run time and skip only the groups concerned.
func WithRuleFilesChecked() FactoryOption { return func(c *Config) { c.checkRuleFiles = true } }

// NewFactory returns the factory of the alert exporter.
func NewFactory(opts ...FactoryOption) exporter.Factory {
	return exporter.NewFactory(Type, func() component.Config {
		c := createDefaultConfig()
		for _, o := range opts {
			o(c)
		}
		return c
	}, exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createMetrics(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return newExporter(set, cfg.(*Config))
}
