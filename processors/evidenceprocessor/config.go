package evidenceprocessor

import (
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/extensions/evidenceextension"
)

// Config is the YAML configuration of the evidence processor.
type Config struct {
	// Extension names the evidence extension whose index the lines go to (default "evidence").
	Extension component.ID `mapstructure:"extension"`
	_         struct{}
}

func createDefaultConfig() *Config {
	return &Config{Extension: component.NewID(evidenceextension.Type)}
}

// Validate has nothing to check before start: Start reports an extension that is not there.
func (*Config) Validate() error { return nil }
