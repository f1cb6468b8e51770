package httpapiextension

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-obs/vigil/internal/testutil"
)

const token = "auditor-1-token-0123456789"

// startAPI starts the extension on endpoint and mounts what the alert exporter and the archive
// receiver mount; it returns the port's address for clients and the logs.
func startAPI(t *testing.T, endpoint string, mutate func(*Config)) (Server, string, *observer.ObservedLogs) {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = endpoint
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.WarnLevel)
	set := extensiontest.NewNopSettings(Type)
	set.Logger = zap.New(core)
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	api := ext.(Server)
	who := func(w http.ResponseWriter, r *http.Request) {
		name, _ := ReaderFrom(r.Context())
		_, _ = io.WriteString(w, name)
	}
	for _, p := range []string{"GET /api/v1/rules", "GET /api/v1/alerts", "/loki/api/v1/status/buildinfo", "/ready"} {
		require.NoError(t, api.Handle(p, http.HandlerFunc(who)))
	}
	return api, "http://127.0.0.1:" + endpoint[strings.LastIndexByte(endpoint, ':')+1:], logs
}

func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var paths = []string{"/api/v1/rules", "/api/v1/alerts", "/loki/api/v1/status/buildinfo", "/ready"}

// TestEveryPathIsBehindTheReaders: whichever component mounted a path, once the port has readers
// (added by a component, as the archivequery receiver does, or its own) every path needs one.
func TestEveryPathIsBehindTheReaders(t *testing.T) {
	port := testutil.FreeAddr(t)
	api, url, logs := startAPI(t, "0.0.0.0:"+port[strings.LastIndexByte(port, ':')+1:], nil)
	for _, p := range paths {
		code, body := get(t, url+p, "")
		require.Equal(t, http.StatusUnauthorized, code, p)
		require.Contains(t, body, "is not a loopback address and no readers are configured", p)
	}
	require.Zero(t, logs.Len(), "no tokens, no warning")

	api.AddReaders([]Reader{{Name: "auditor-1", BearerTokens: []configopaque.String{token}}})
	api.AddReaders([]Reader{{Name: "auditor-2", BearerTokens: []configopaque.String{token + "-2"}}})
	require.True(t, api.HasReaders())
	for _, p := range paths {
		code, body := get(t, url+p, "")
		require.Equal(t, http.StatusUnauthorized, code, p)
		require.Contains(t, body, "send a reader's bearer token or client certificate")
		code, body = get(t, url+p, "not-a-reader-token-at-all")
		require.Equal(t, http.StatusUnauthorized, code, p)
		require.NotContains(t, body, "not-a-reader-token-at-all")
		code, body = get(t, url+p, token)
		require.Equal(t, http.StatusOK, code, p)
		require.Equal(t, "auditor-1", body, "the handler learns the reader")
	}
	warnings := logs.FilterMessageSnippet("bearer tokens are accepted over plain HTTP").All()
	require.Len(t, warnings, 1, "warned once")
}

// TestLoopbackWithoutReadersIsAnonymous: the all-in-one's port answers local requests, and its
// own readers, when set, guard it even on loopback; tokens over HTTP on loopback are no warning.
func TestLoopbackWithoutReadersIsAnonymous(t *testing.T) {
	_, url, _ := startAPI(t, testutil.FreeAddr(t), nil)
	for _, p := range paths {
		code, body := get(t, url+p, "")
		require.Equal(t, http.StatusOK, code, p)
		require.Equal(t, "anonymous", body)
	}
	_, url, logs := startAPI(t, testutil.FreeAddr(t), func(c *Config) {
		c.Readers = []Reader{{Name: "grafana", BearerTokens: []configopaque.String{token}}}
	})
	code, _ := get(t, url+"/api/v1/rules", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := get(t, url+"/api/v1/rules", token)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "grafana", body)
	require.Zero(t, logs.Len())
}

// TestOwnReadersBeyondLoopbackWarnAtStart: the extension's own readers with tokens on plain HTTP
// beyond loopback are warned about at start, once.
func TestOwnReadersBeyondLoopbackWarnAtStart(t *testing.T) {
	port := testutil.FreeAddr(t)
	_, url, logs := startAPI(t, "0.0.0.0:"+port[strings.LastIndexByte(port, ':')+1:], func(c *Config) {
		c.Readers = []Reader{{Name: "grafana", BearerTokens: []configopaque.String{token}}}
	})
	require.Equal(t, 1, logs.FilterMessageSnippet("plain HTTP").Len())
	code, _ := get(t, url+"/ready", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = get(t, url+"/ready", token)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, logs.Len())
}

func TestValidateReaders(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Readers = []Reader{{Name: "a", BearerTokens: []configopaque.String{"short"}}, {Name: "a"}}
	err := cfg.Validate()
	require.ErrorContains(t, err, "readers[0].bearer_tokens[0]: shorter than 16 characters")
	require.ErrorContains(t, err, `readers[1].name: "a" is listed twice`)
	require.ErrorContains(t, err, "readers[1] (a): needs subjects or bearer_tokens")
}
