// Package walstoragetest starts walstorage extensions for the tests of the components that keep
// their queues or positions in it.
package walstoragetest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// ID is the walstorage extension's ID in Host.
var ID = component.NewID(walstorageextension.Type)

// Start creates and starts a walstorage extension on dir, its default configuration changed by
// mutate; the caller shuts it down.
func Start(t testing.TB, dir string, mutate ...func(*walstorageextension.Config)) extension.Extension {
	t.Helper()
	f := walstorageextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*walstorageextension.Config)
	cfg.Directory = dir
	for _, m := range mutate {
		m(cfg)
	}
	ws, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Start(context.Background(), testutil.Host(nil)); err != nil {
		t.Fatal(err)
	}
	return ws
}

// Host is a host whose one extension is ws, as ID.
func Host(ws component.Component) component.Host {
	return testutil.Host(map[component.ID]component.Component{ID: ws})
}

// LifecycleHost is the host of a generated lifecycle test: a walstorage extension on a temporary
// directory, shut down when the test ends.
func LifecycleHost(t *testing.T) component.Host {
	t.Helper()
	ws := Start(t, t.TempDir())
	t.Cleanup(func() {
		if err := ws.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return Host(ws)
}
