// Package httpapiextension is vigil's API port: one HTTP server on which components mount their
// read APIs (the archive's Loki-compatible API, the alert core's /api/v1/rules and /api/v1/alerts),
// so that Grafana and auditors use one address, one certificate and one firewall rule.
//
// A component that has `http_api: httpapi` in its configuration looks the extension up in the
// host's extensions at Start and calls Handle for each of its paths.
package httpapiextension

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"
)

// Type is the component type of the extension in YAML.
var Type = component.MustNewType("httpapi")

// DefaultEndpoint is the API port when none is configured: loopback only.
const DefaultEndpoint = "127.0.0.1:3101"

// Config is the HTTP server: endpoint, tls (set client_ca_file to accept client certificates),
// auth and the other settings of the collector's confighttp server.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`
	_                       struct{}
}

// Validate reports a missing endpoint.
func (c *Config) Validate() error {
	if c.NetAddr.Endpoint == "" {
		return errors.New("endpoint: must be set, e.g. " + DefaultEndpoint)
	}
	return nil
}

// Server is what the extension offers to components.
type Server interface {
	// Handle serves the http.ServeMux pattern with h. Patterns are first come, first served: a
	// pattern that another component mounted already is an error.
	Handle(pattern string, h http.Handler) error
	// Endpoint is the configured listen address.
	Endpoint() string
	// TLS reports whether the server uses TLS (client certificates are then available to handlers).
	TLS() bool
}

// Lookup returns the Server of the httpapi extension id among the host's extensions; setting
// names the component's setting that refers to it, for the error.
func Lookup(host component.Host, id component.ID, setting string) (Server, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("%s: extension %q is not configured and enabled (add it under extensions and service.extensions)", setting, id)
	}
	s, ok := ext.(Server)
	if !ok {
		return nil, fmt.Errorf("%s: extension %q is not an httpapi extension", setting, id)
	}
	return s, nil
}

// NewFactory returns the factory of the httpapi extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, func() component.Config {
		sc := confighttp.NewDefaultServerConfig()
		sc.NetAddr.Endpoint = DefaultEndpoint
		return &Config{ServerConfig: sc}
	}, func(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
		return &api{cfg: cfg.(*Config), set: set, mux: http.NewServeMux()}, nil
	}, component.StabilityLevelBeta)
}

type api struct {
	cfg *Config
	set extension.Settings
	mux *http.ServeMux

	mu       sync.Mutex
	patterns map[string]bool
	server   *http.Server
	wg       sync.WaitGroup
}

var _ Server = (*api)(nil)

func (a *api) Start(ctx context.Context, host component.Host) error {
	ln, err := a.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (httpapi endpoint): %w", a.cfg.NetAddr.Endpoint, err)
	}
	srv, err := a.cfg.ToServer(ctx, host.GetExtensions(), a.set.TelemetrySettings, a.mux)
	if err != nil {
		_ = ln.Close()
		return err
	}
	a.server = srv
	a.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.set.Logger.Error("API server stopped", zap.Error(err))
		}
	})
	a.set.Logger.Info("API server listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (a *api) Shutdown(ctx context.Context) error {
	if a.server == nil {
		return nil
	}
	err := a.server.Shutdown(ctx)
	a.wg.Wait()
	a.server = nil
	return err
}

func (a *api) Handle(pattern string, h http.Handler) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.patterns[pattern] {
		return fmt.Errorf("%s is already served on the API port %s by another component", pattern, a.cfg.NetAddr.Endpoint)
	}
	if a.patterns == nil {
		a.patterns = map[string]bool{}
	}
	a.patterns[pattern] = true
	a.mux.Handle(pattern, h)
	return nil
}

func (a *api) Endpoint() string { return a.cfg.NetAddr.Endpoint }

func (a *api) TLS() bool { return a.cfg.TLS.HasValue() }

// Loopback reports whether an endpoint (host:port) listens on a loopback address only.
func Loopback(endpoint string) bool {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
