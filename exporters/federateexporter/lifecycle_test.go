package federateexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// lifecycleHost is the host of the generated lifecycle test: an httpapi extension (on a free
// loopback port, stopped when the test ends) on which Start mounts GET /federate.
func lifecycleHost(t *testing.T) component.Host {
	t.Helper()
	f := httpapiextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*httpapiextension.Config)
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	api, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, api.Start(context.Background(), testutil.Host(nil)))
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	return testutil.Host(map[component.ID]component.Component{component.NewID(httpapiextension.Type): api})
}
