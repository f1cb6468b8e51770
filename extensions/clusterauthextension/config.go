package clusterauthextension

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/config/configopaque"
)

// Config is the YAML configuration of the clusterauth extension.
type Config struct {
	// Clusters maps credentials to cluster names. Required: at least one entry.
	Clusters []ClusterConfig `mapstructure:"clusters"`
	_        struct{}
}

// ClusterConfig is one cluster and the credentials allowed to write as it.
type ClusterConfig struct {
	// Name is the cluster name, the value of k8s.cluster.name for everything this cluster sends.
	Name string `mapstructure:"name"`
	// Subjects are client-certificate identities: a certificate matches when its subject common
	// name, its full subject (RFC 2253, e.g. "CN=a,O=b"), or any of its DNS, URI or e-mail SANs equals
	// one of these. Default: none.
	Subjects []string `mapstructure:"subjects"`
	// BearerTokens are accepted in "Authorization: Bearer <token>". Never logged. Default: none.
	BearerTokens []configopaque.String `mapstructure:"bearer_tokens"`
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Clusters) == 0 {
		errs = append(errs, errors.New("clusters: must list at least one cluster with its subjects or bearer_tokens"))
	}
	names := map[string]int{}
	subjects := map[string]string{}
	tokens := map[configopaque.String]string{}
	for i, cl := range c.Clusters {
		key := fmt.Sprintf("clusters[%d]", i)
		if cl.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must be set", key))
		} else if j, dup := names[cl.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is already used by clusters[%d]", key, cl.Name, j))
		} else {
			names[cl.Name] = i
		}
		if len(cl.Subjects) == 0 && len(cl.BearerTokens) == 0 {
			errs = append(errs, fmt.Errorf("%s: cluster %q has no credential: set subjects or bearer_tokens", key, cl.Name))
		}
		for j, s := range cl.Subjects {
			if s == "" {
				errs = append(errs, fmt.Errorf("%s.subjects[%d]: must not be empty", key, j))
				continue
			}
			if other, dup := subjects[s]; dup && other != cl.Name {
				errs = append(errs, fmt.Errorf("%s.subjects[%d]: %q already maps to cluster %q; a credential maps to one cluster", key, j, s, other))
			}
			subjects[s] = cl.Name
		}
		for j, t := range cl.BearerTokens {
			if len(t) < 16 {
				errs = append(errs, fmt.Errorf("%s.bearer_tokens[%d]: too short (%d characters, at least 16 required)", key, j, len(t)))
				continue
			}
			if other, dup := tokens[t]; dup && other != cl.Name {
				errs = append(errs, fmt.Errorf("%s.bearer_tokens[%d]: already maps to cluster %q; a credential maps to one cluster", key, j, other))
			}
			tokens[t] = cl.Name
		}
	}
	return errors.Join(errs...)
}
