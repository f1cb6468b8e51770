package httpapiextension

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/vigil-obs/vigil/internal/testutil"
)

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestComponentsShareOnePort(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.Equal(t, DefaultEndpoint, cfg.NetAddr.Endpoint, "loopback unless configured")
	cfg.NetAddr.Endpoint = testutil.FreeAddr(t)
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })

	id := component.NewID(Type)
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: ext}}
	api, err := Lookup(h, id, "x http_api")
	require.NoError(t, err)
	require.Equal(t, cfg.NetAddr.Endpoint, api.Endpoint())
	require.False(t, api.TLS())

	// Two components mount their paths; a path taken twice is refused.
	require.NoError(t, api.Handle("GET /a", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "a") })))
	require.NoError(t, api.Handle("GET /b", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "b") })))
	require.ErrorContains(t, api.Handle("GET /a", http.NotFoundHandler()), "GET /a is already served on the API port")
	for _, p := range []string{"a", "b"} {
		resp, err := http.Get("http://" + cfg.NetAddr.Endpoint + "/" + p)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, p, string(body))
	}

	_, err = Lookup(h, component.MustNewIDWithName("httpapi", "other"), "alert http_api")
	require.ErrorContains(t, err, `alert http_api: extension "httpapi/other" is not configured`)
	other, err := extensiontest.NewNopFactory().Create(context.Background(), extensiontest.NewNopSettings(extensiontest.NopType), nil)
	require.NoError(t, err)
	h.exts[id] = other
	_, err = Lookup(h, id, "alert http_api")
	require.ErrorContains(t, err, "is not an httpapi extension")
}

func TestValidateAndLoopback(t *testing.T) {
	require.ErrorContains(t, (&Config{}).Validate(), "endpoint: must be set")
	for ep, want := range map[string]bool{"127.0.0.1:3101": true, "localhost:1": true, "[::1]:1": true,
		"0.0.0.0:3101": false, ":3101": false, "10.0.0.1:1": false, "nonsense": false} {
		require.Equal(t, want, Loopback(ep), ep)
	}
}
