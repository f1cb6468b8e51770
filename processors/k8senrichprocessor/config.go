package k8senrichprocessor

import (
	"errors"
	"os"

	"github.com/vigil-obs/vigil/internal/k8spod"
)

// Auth types for reaching the Kubernetes API.
const (
	AuthServiceAccount = k8spod.AuthServiceAccount
	AuthKubeConfig     = k8spod.AuthKubeConfig
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
type PodMetadataConfig = k8spod.Config

func createDefaultConfig() *Config {
	return &Config{
		NodeName:    os.Getenv("K8S_NODE_NAME"),
		PodMetadata: k8spod.DefaultConfig(),
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.ClusterName == "" {
		errs = append(errs, errors.New("cluster_name: must be set (the name of the Kubernetes cluster this agent runs in)"))
	}
	if err := c.PodMetadata.Validate(c.NodeName, "node_name"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
