package clusteridentityprocessor

import (
	"errors"
	"fmt"
)

// Mismatch policies.
const (
	OnMismatchReject    = "reject"
	OnMismatchOverwrite = "overwrite"
)

// Config is the YAML configuration of the clusteridentity processor.
type Config struct {
	// OnMismatch says what happens to a resource whose k8s.cluster.name differs from the
	// authenticated cluster: "reject" (default) drops it and answers PermissionDenied / 403;
	// "overwrite" replaces the claim with the authenticated cluster.
	OnMismatch string `mapstructure:"on_mismatch"`
	// RequireAuthentication refuses requests that carry no authenticated cluster (default true).
	// Set false only for pipelines whose receivers are reachable by trusted local clients alone.
	RequireAuthentication bool `mapstructure:"require_authentication"`
	_                     struct{}
}

func createDefaultConfig() *Config {
	return &Config{OnMismatch: OnMismatchReject, RequireAuthentication: true}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.OnMismatch != OnMismatchReject && c.OnMismatch != OnMismatchOverwrite {
		errs = append(errs, fmt.Errorf("on_mismatch: %q is not allowed; use %q or %q", c.OnMismatch, OnMismatchReject, OnMismatchOverwrite))
	}
	return errors.Join(errs...)
}
