package collectorcli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
)

// NewAPIExposureConverter checks the API port (httpapi extensions) across components, where no
// component's Validate can: it refuses, for `vigil validate` and at start alike (converters run
// on every resolved configuration), what start would refuse or serve to no one —
//   - a component with http_api naming an httpapi extension that is not enabled in
//     service.extensions;
//   - an API port beyond loopback on which components mount paths while no readers guard it
//     (neither the extension's readers nor those of an archivequery receiver mounted on it):
//     every path of the port needs a reader's credentials beyond loopback.
func NewAPIExposureConverter() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return apiExposure{} })
}

type apiExposure struct{}

// mounter is a component in a pipeline that mounts its paths on an API port.
type mounter struct {
	id      string // e.g. receivers::archivequery
	port    string // the httpapi extension it names
	readers bool
}

func (apiExposure) Convert(_ context.Context, conf *confmap.Conf) error {
	enabled := map[string]bool{}
	for _, id := range list(conf.Get("service::extensions")) {
		enabled[id] = true
	}
	inPipeline := map[string]bool{}
	pipelines, _ := conf.Get("service::pipelines").(map[string]any)
	for _, p := range pipelines {
		pm, _ := p.(map[string]any)
		for _, kind := range []string{"receivers", "exporters"} {
			for _, id := range list(pm[kind]) {
				inPipeline[kind+"::"+id] = true
			}
		}
	}
	var mounters []mounter
	for _, kind := range []string{"receivers", "exporters"} {
		comps, _ := conf.Get(kind).(map[string]any)
		for id, c := range comps {
			cm, _ := c.(map[string]any)
			port, _ := cm["http_api"].(string)
			if port == "" || !inPipeline[kind+"::"+id] {
				continue
			}
			typ, _, _ := strings.Cut(id, "/")
			mounters = append(mounters, mounter{id: kind + "::" + id, port: port,
				readers: typ == "archivequery" && len(list(cm["readers"])) > 0})
		}
	}
	sort.Slice(mounters, func(i, j int) bool { return mounters[i].id < mounters[j].id })
	var errs []error
	ports := map[string][]mounter{}
	for _, m := range mounters {
		if !enabled[m.port] {
			errs = append(errs, fmt.Errorf("%s::http_api: extension %q is not enabled (add it under extensions and service.extensions)", m.id, m.port))
			continue
		}
		ports[m.port] = append(ports[m.port], m)
	}
	names := make([]string, 0, len(ports))
	for p := range ports {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, port := range names {
		ext, _ := conf.Get("extensions::" + port).(map[string]any)
		endpoint, _ := ext["endpoint"].(string)
		if endpoint == "" {
			endpoint = httpapiextension.DefaultEndpoint
		}
		if typ, _, _ := strings.Cut(port, "/"); typ != "httpapi" || httpapiextension.Loopback(endpoint) || len(list(ext["readers"])) > 0 {
			continue
		}
		ms := ports[port]
		if slices.ContainsFunc(ms, func(m mounter) bool { return m.readers }) {
			continue
		}
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.id
		}
		errs = append(errs, fmt.Errorf("extensions::%s::readers: must be set when endpoint %q is not a loopback address: every path of the API port (mounted by %s) needs a reader's bearer token or client certificate beyond loopback (anonymous reads are local only); set readers on the extension or on an archivequery receiver with http_api: %s",
			port, endpoint, strings.Join(ids, ", "), port))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid API port configuration: %w", errors.Join(errs...))
	}
	return nil
}

// list returns a YAML list of names (or of maps, as their count), ignoring anything else.
func list(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}
