package otlprelayreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// lifecycleHost is the host of the generated lifecycle test: a walstorage extension (on a
// temporary directory, stopped when the test ends) for the durable queue.
func lifecycleHost(t *testing.T) component.Host {
	t.Helper()
	f := walstorageextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*walstorageextension.Config)
	cfg.Directory = t.TempDir()
	ws, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ws.Start(context.Background(), testutil.Host(nil)))
	t.Cleanup(func() { require.NoError(t, ws.Shutdown(context.Background())) })
	return testutil.Host(map[component.ID]component.Component{component.NewID(walstorageextension.Type): ws})
}
