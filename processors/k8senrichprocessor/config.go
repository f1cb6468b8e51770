package k8senrichprocessor

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Auth types for reaching the Kubernetes API.
const (
	AuthServiceAccount = "serviceAccount"
	AuthKubeConfig     = "kubeConfig"
)

// Config is the YAML configuration of the k8senrich processor.
type Config struct {
	// ClusterName is written to k8s.cluster.name on every resource. Required.
	ClusterName string `mapstructure:"cluster_name"`
	// NodeName is written to k8s.node.name. Default: $K8S_NODE_NAME.
	NodeName string `mapstructure:"node_name"`
	// PodMetadata adds pod identity from the Kubernetes API.
	PodMetadata PodMetadataConfig `mapstructure:"pod_metadata"`
	_           struct{}
}

// PodMetadataConfig configures the pod lookup.
type PodMetadataConfig struct {
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
}

func createDefaultConfig() *Config {
	return &Config{
		NodeName: os.Getenv("K8S_NODE_NAME"),
		PodMetadata: PodMetadataConfig{
			AuthType:    AuthServiceAccount,
			Labels:      []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app"},
			SyncTimeout: 10 * time.Second,
		},
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.ClusterName == "" {
		errs = append(errs, errors.New("cluster_name: must be set (the name of the Kubernetes cluster this agent runs in)"))
	}
	if c.PodMetadata.Enabled {
		if c.NodeName == "" {
			errs = append(errs, errors.New("node_name: must be set when pod_metadata.enabled is true (set K8S_NODE_NAME from the downward API spec.nodeName)"))
		}
		if c.PodMetadata.AuthType != AuthServiceAccount && c.PodMetadata.AuthType != AuthKubeConfig {
			errs = append(errs, fmt.Errorf("pod_metadata.auth_type: %q is not allowed; use %q or %q",
				c.PodMetadata.AuthType, AuthServiceAccount, AuthKubeConfig))
		}
		if c.PodMetadata.SyncTimeout <= 0 {
			errs = append(errs, fmt.Errorf("pod_metadata.sync_timeout: %q must be positive", c.PodMetadata.SyncTimeout))
		}
		for i, l := range c.PodMetadata.Labels {
			if l == "" {
				errs = append(errs, fmt.Errorf("pod_metadata.labels[%d]: must not be empty", i))
			}
		}
	}
	return errors.Join(errs...)
}
