package testutil

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

// Host is a component.Host that offers the given extensions (for components that look up an
// authenticator or a storage extension at Start).
func Host(extensions map[component.ID]component.Component) component.Host {
	return host{Host: componenttest.NewNopHost(), ext: extensions}
}

type host struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }
