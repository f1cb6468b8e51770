package evidenceextension

import (
	"errors"
	"fmt"

	"github.com/vigil-obs/vigil/processors/redactprocessor"
)

// Config is the YAML configuration of the evidence extension.
type Config struct {
	// MaxLinesPerPod is how many lines the index keeps per resource, the newest (default 5).
	MaxLinesPerPod int `mapstructure:"max_lines_per_pod"`
	// MaxLineBytes bounds a stored line; a longer one is cut (at a UTF-8 boundary) and ends
	// with " …[truncated]" (default 512 bytes).
	MaxLineBytes int `mapstructure:"max_line_bytes"`
	// MaxPods bounds the resources held; past it the least recently written one is forgotten
	// (default 50000).
	MaxPods int `mapstructure:"max_pods"`
	// RedactRules are the redact processor's rules, applied to every line before it is stored
	// (redactprocessor.LineRedactor). Default: the redact processor's default rules. Set them to
	// the rules of your redact processor if you changed those.
	RedactRules []redactprocessor.Rule `mapstructure:"redact_rules"`
	_           struct{}
}

func createDefaultConfig() *Config {
	return &Config{MaxLinesPerPod: 5, MaxLineBytes: 512, MaxPods: 50_000, RedactRules: redactprocessor.DefaultRules()}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxLinesPerPod < 1 || c.MaxLinesPerPod > 100 {
		errs = append(errs, fmt.Errorf("max_lines_per_pod: %d must be between 1 and 100", c.MaxLinesPerPod))
	}
	if c.MaxLineBytes < 64 || c.MaxLineBytes > 16384 {
		errs = append(errs, fmt.Errorf("max_line_bytes: %d must be between 64 and 16384", c.MaxLineBytes))
	}
	if c.MaxPods < 1 {
		errs = append(errs, fmt.Errorf("max_pods: %d must be at least 1", c.MaxPods))
	}
	if err := (&redactprocessor.Config{Rules: c.RedactRules}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("redact_rules: %w", err))
	}
	return errors.Join(errs...)
}
