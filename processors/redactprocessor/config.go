package redactprocessor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Config is the YAML configuration of the redact processor.
type Config struct {
	// Rules say which fields to remove from which resources. Default: the data and stringData
	// of core secrets, the token of TokenRequests (serviceaccounts/token) and of TokenReviews.
	Rules []Rule `mapstructure:"rules"`
	_     struct{}
}

// Rule removes Fields from the objects of events about Resources.
type Rule struct {
	// Resources are objectRef.resource values, e.g. "secrets" (which also covers every
	// subresource of secrets), or resource/subresource, e.g. "serviceaccounts/token". Required.
	Resources []string `mapstructure:"resources"`
	// APIGroups restricts the rule to these objectRef.apiGroup values ("" is the core group).
	// Default: any group.
	APIGroups []string `mapstructure:"api_groups"`
	// Fields are fields of the request/response objects to remove: a top-level field ("data")
	// or a dotted path into nested objects ("status.token"). Required.
	Fields []string `mapstructure:"fields"`
}

func createDefaultConfig() *Config {
	return &Config{Rules: []Rule{
		{Resources: []string{"secrets"}, APIGroups: []string{""}, Fields: []string{"data", "stringData"}},
		// TokenRequest: the response carries a live service account token.
		{Resources: []string{"serviceaccounts/token"}, APIGroups: []string{""}, Fields: []string{"status.token"}},
		// TokenReview: the request (and the response, which echoes the spec) carries the token reviewed.
		{Resources: []string{"tokenreviews"}, APIGroups: []string{"authentication.k8s.io"}, Fields: []string{"spec.token"}},
	}}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if len(r.Resources) == 0 {
			errs = append(errs, fmt.Errorf("rules[%d].resources: must list at least one resource, e.g. secrets", i))
		}
		for j, res := range r.Resources {
			name, sub, hasSub := strings.Cut(res, "/")
			if name == "" || (hasSub && (sub == "" || strings.Contains(sub, "/"))) {
				errs = append(errs, fmt.Errorf("rules[%d].resources[%d]: %q is not a resource or resource/subresource, e.g. secrets or serviceaccounts/token", i, j, res))
			}
		}
		if len(r.Fields) == 0 {
			errs = append(errs, fmt.Errorf("rules[%d].fields: must list at least one field, e.g. data", i))
		}
		for j, f := range r.Fields {
			segs := strings.Split(f, ".")
			switch {
			case f == "" || segs[0] == "metadata" || segs[0] == "kind" || segs[0] == "apiVersion":
				errs = append(errs, fmt.Errorf("rules[%d].fields[%d]: %q cannot be redacted (auditors need it to identify the object)", i, j, f))
			case slices.Contains(segs, "") || strings.ContainsAny(f, "*/[]$"):
				errs = append(errs, fmt.Errorf("rules[%d].fields[%d]: %q is not a field name or a dotted path of field names, e.g. data or status.token", i, j, f))
			}
		}
	}
	return errors.Join(errs...)
}

// matcher finds the fields to remove from an event by its objectRef; built once from the rules.
type matcher map[string][]compiledRule // by resource

type compiledRule struct {
	subresource string   // "": every subresource and the resource itself
	groups      []string // empty: any group
	fields      []string
}

func newMatcher(rules []Rule) matcher {
	m := matcher{}
	for _, r := range rules {
		for _, res := range r.Resources {
			name, sub, _ := strings.Cut(res, "/")
			m[name] = append(m[name], compiledRule{subresource: sub, groups: r.APIGroups, fields: r.Fields})
		}
	}
	return m
}

// fields returns what to remove from an event about resource/subresource in group, nil if
// nothing. It does not allocate for a resource no rule names.
func (m matcher) fields(resource, subresource, group string) []string {
	rules, ok := m[resource]
	if !ok {
		return nil
	}
	var out []string
	for _, r := range rules {
		if (r.subresource == "" || r.subresource == subresource) && (len(r.groups) == 0 || slices.Contains(r.groups, group)) {
			for _, f := range r.fields {
				if !slices.Contains(out, f) {
					out = append(out, f)
				}
			}
		}
	}
	return out
}
