package k8spod

import (
	"errors"
	"fmt"
	"time"
)

// Auth types for reaching the Kubernetes API.
const (
	AuthServiceAccount = "serviceAccount"
	AuthKubeConfig     = "kubeConfig"
)

// Config is the YAML configuration of the pod lookup (the pod_metadata block of the components
// using it).
type Config struct {
	// Enabled turns the lookup on (default false). Needs get/list/watch on pods.
	Enabled bool `mapstructure:"enabled"`
	// AuthType is "serviceAccount" (default, in-cluster) or "kubeConfig" ($KUBECONFIG or ~/.kube/config).
	AuthType string `mapstructure:"auth_type"`
	// Labels are the pod label keys copied to k8s.pod.label.<key>.
	// Default: app.kubernetes.io/name, app.kubernetes.io/instance, app.kubernetes.io/version, app.
	Labels []string `mapstructure:"labels"`
	// SyncTimeout bounds how long Start waits for the first listing of pods (default 10s); after
	// it, vigil runs and the cache fills in the background.
	SyncTimeout time.Duration `mapstructure:"sync_timeout"`
	// KeepAnnotations are the pod annotation keys the cache keeps (set by the component that
	// reads them, not by users; every other annotation is dropped to keep memory flat).
	KeepAnnotations []string `mapstructure:"-"`
}

// DefaultConfig is the lookup's default configuration (disabled).
func DefaultConfig() Config {
	return Config{
		AuthType:    AuthServiceAccount,
		Labels:      []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app"},
		SyncTimeout: 10 * time.Second,
	}
}

// Validate reports every problem of c when it is enabled; nodeName is the node the pods are
// looked up on, and nodeSetting the setting that gives it. Errors name their setting under
// pod_metadata.
func (c Config) Validate(nodeName, nodeSetting string) error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if nodeName == "" {
		errs = append(errs, fmt.Errorf("%s: must be set when pod_metadata.enabled is true (set K8S_NODE_NAME from the downward API spec.nodeName)", nodeSetting))
	}
	if c.AuthType != AuthServiceAccount && c.AuthType != AuthKubeConfig {
		errs = append(errs, fmt.Errorf("pod_metadata.auth_type: %q is not allowed; use %q or %q",
			c.AuthType, AuthServiceAccount, AuthKubeConfig))
	}
	if c.SyncTimeout <= 0 {
		errs = append(errs, fmt.Errorf("pod_metadata.sync_timeout: %q must be positive", c.SyncTimeout))
	}
	for i, l := range c.Labels {
		if l == "" {
			errs = append(errs, fmt.Errorf("pod_metadata.labels[%d]: must not be empty", i))
		}
	}
	return errors.Join(errs...)
}
