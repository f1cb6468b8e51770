package config

import (
	"context"
	"embed"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Scheme is the confmap scheme under which the role configurations are served, e.g.
// "embedded:allinone.yaml".
const Scheme = "embedded"

// AllInOne is the URI of the configuration vigil runs when started without --config.
const AllInOne = Scheme + ":allinone.yaml"

// Agent is the URI of the agent's configuration, which vigil-agent runs when started without
// --config.
const Agent = Scheme + ":agent.yaml"

//go:embed *.yaml
var files embed.FS

// Names lists the embedded configuration files, sorted.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Read returns the raw bytes of one embedded configuration file.
func Read(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read embedded config %q (available: %s): %w",
			name, strings.Join(Names(), ", "), err)
	}
	return b, nil
}

// NewProviderFactory returns the confmap provider factory for the "embedded:" scheme.
func NewProviderFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return provider{} })
}

type provider struct{}

func (provider) Scheme() string { return Scheme }

func (provider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	name, ok := strings.CutPrefix(uri, Scheme+":")
	if !ok {
		return nil, fmt.Errorf("cannot retrieve %q: uri must start with %q", uri, Scheme+":")
	}
	b, err := Read(name)
	if err != nil {
		return nil, err
	}
	return confmap.NewRetrievedFromYAML(b)
}

func (provider) Shutdown(context.Context) error { return nil }
