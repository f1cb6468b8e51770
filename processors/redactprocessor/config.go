package redactprocessor

import (
	"errors"
	"fmt"
)

// Config is the YAML configuration of the redact processor.
type Config struct {
	// Rules say which fields to remove from which resources. Default: the data and stringData
	// of core secrets.
	Rules []Rule `mapstructure:"rules"`
	_     struct{}
}

// Rule removes Fields from the objects of events about Resources.
type Rule struct {
	// Resources are objectRef.resource values, e.g. "secrets". Required.
	Resources []string `mapstructure:"resources"`
	// APIGroups restricts the rule to these objectRef.apiGroup values ("" is the core group).
	// Default: any group.
	APIGroups []string `mapstructure:"api_groups"`
	// Fields are top-level fields of the request/response objects to remove. Required.
	Fields []string `mapstructure:"fields"`
}

func createDefaultConfig() *Config {
	return &Config{Rules: []Rule{{Resources: []string{"secrets"}, APIGroups: []string{""}, Fields: []string{"data", "stringData"}}}}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if len(r.Resources) == 0 {
			errs = append(errs, fmt.Errorf("rules[%d].resources: must list at least one resource, e.g. secrets", i))
		}
		if len(r.Fields) == 0 {
			errs = append(errs, fmt.Errorf("rules[%d].fields: must list at least one field, e.g. data", i))
		}
		for j, f := range r.Fields {
			if f == "" || f == "metadata" || f == "kind" || f == "apiVersion" {
				errs = append(errs, fmt.Errorf("rules[%d].fields[%d]: %q cannot be redacted (auditors need it to identify the object)", i, j, f))
			}
		}
	}
	return errors.Join(errs...)
}
