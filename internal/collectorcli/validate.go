package collectorcli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/otelcol"
)

// WithReferenceCheck makes the collector's validate subcommand report every problem it can find:
// the collector stops at the first component whose settings it cannot decode (an unknown key, say)
// and then never looks at the pipelines, so a pipeline that names a component nobody defined went
// unreported beside a misspelled key. When decoding fails, the dangling references of the service
// section are reported with it.
func WithReferenceCheck(root *cobra.Command, set otelcol.CollectorSettings, uris func() []string) {
	for _, c := range root.Commands() {
		if c.Name() != "validate" || c.RunE == nil {
			continue
		}
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, cmdArgs []string) error {
			err := run(cmd, cmdArgs)
			if err == nil || !strings.HasPrefix(err.Error(), "failed to get config") {
				return err // the collector checked the pipelines itself
			}
			return errors.Join(append([]error{err}, danglingReferences(set, uris())...)...)
		}
	}
}

// danglingReferences resolves the configuration at uris (without decoding any component) and
// returns a problem for every component that service.pipelines or service.extensions names but
// no top-level section defines.
func danglingReferences(set otelcol.CollectorSettings, uris []string) []error {
	rs := set.ConfigProviderSettings.ResolverSettings
	if len(uris) > 0 {
		rs.URIs = uris
	}
	conf, err := ResolveConfig(rs)
	if err != nil {
		return nil
	}
	return referenceProblems(conf.ToStringMap())
}

// referenceProblems checks the names of a raw configuration's service section against its
// component sections.
func referenceProblems(m map[string]any) []error {
	defined := func(kind, name string) bool {
		comps, _ := m[kind].(map[string]any)
		_, ok := comps[name]
		return ok
	}
	var errs []error
	service, _ := m["service"].(map[string]any)
	exts, _ := service["extensions"].([]any)
	for _, e := range exts {
		if name := fmt.Sprint(e); !defined("extensions", name) {
			errs = append(errs, fmt.Errorf("service::extensions: references extension %q, which is not configured under extensions", name))
		}
	}
	pipelines, _ := service["pipelines"].(map[string]any)
	ids := make([]string, 0, len(pipelines))
	for id := range pipelines {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pipeline, _ := pipelines[id].(map[string]any)
		for _, role := range []struct{ key, kind string }{
			{"receivers", "receivers"}, {"processors", "processors"}, {"exporters", "exporters"}} {
			names, _ := pipeline[role.key].([]any)
			for _, n := range names {
				name := fmt.Sprint(n)
				// A connector serves as a receiver of one pipeline and an exporter of another.
				if defined(role.kind, name) || (role.kind != "processors" && defined("connectors", name)) {
					continue
				}
				errs = append(errs, fmt.Errorf("service::pipelines::%s: references %s %q, which is not configured under %s",
					id, strings.TrimSuffix(role.kind, "s"), name, role.kind))
			}
		}
	}
	return errs
}
