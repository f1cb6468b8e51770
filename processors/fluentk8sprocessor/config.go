package fluentk8sprocessor

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vigil-obs/vigil/internal/fluentk8s"
)

// Config is the YAML configuration of the fluentk8s processor.
type Config struct {
	// Cluster, when set, is written to k8s.cluster.name of every resource, overwriting any claim:
	// for a gateway's forward input, which has no credentials to take the cluster from. Default:
	// none (on the agent k8senrich stamps the cluster).
	Cluster string `mapstructure:"cluster"`
	// Labels are the pod label keys copied to k8s.pod.label.<key>. Default: the k8senrich
	// processor's (app.kubernetes.io/name, app.kubernetes.io/instance, app.kubernetes.io/version, app).
	Labels []string `mapstructure:"labels"`
	_      struct{}
}

func createDefaultConfig() *Config {
	return &Config{Labels: slices.Clone(fluentk8s.DefaultLabels)}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	for i, l := range c.Labels {
		if l == "" {
			errs = append(errs, fmt.Errorf("labels[%d]: must not be empty", i))
		}
	}
	return errors.Join(errs...)
}
