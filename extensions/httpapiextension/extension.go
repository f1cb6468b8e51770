// Package httpapiextension is vigil's API port: one HTTP server on which components mount their
// read APIs (the archive's Loki-compatible API, the alert core's /api/v1/rules and /api/v1/alerts),
// so that Grafana and auditors use one address, one certificate and one firewall rule.
//
// A component that has `http_api: httpapi` in its configuration looks the extension up in the
// host's extensions at Start and calls Handle for each of its paths. Every path of the port is
// behind the same authentication: once the port has readers (its own, or those a component adds
// with AddReaders), every request needs a reader's bearer token or client certificate; without
// readers, requests are served only on a loopback address.
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
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/httpapiextension/internal/metadata"
	"github.com/vigil-obs/vigil/internal/confsplit"
)

// Type is the component type of the extension in YAML.
var Type = metadata.Type

// DefaultEndpoint is the API port when none is configured: loopback only.
const DefaultEndpoint = "127.0.0.1:3101"

// Config is the HTTP server: endpoint, tls (set client_ca_file to accept client certificates),
// auth and the other settings of the collector's confighttp server.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`
	// Readers are the read-only identities allowed on every path of the port (default none:
	// anonymous reads, on a loopback endpoint only).
	Readers []Reader `mapstructure:"readers"`
	_       struct{}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set, e.g. "+DefaultEndpoint))
	}
	errs = append(errs, ValidateReaders("readers", c.Readers)...)
	return errors.Join(errs...)
}

// Unmarshal decodes the HTTP server's keys with the server's own unmarshaller (embedding it would
// otherwise hide readers: the embedded ServerConfig's Unmarshal is promoted to Config and decodes
// only its own keys) and readers strictly: an unknown key is an error.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	own := struct {
		Readers []Reader `mapstructure:"readers"`
	}{Readers: c.Readers}
	if err := confsplit.Unmarshal(conf, &c.ServerConfig, &own); err != nil {
		return err
	}
	c.Readers = own.Readers
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
	// AddReaders adds read-only identities to the port's (a component's own readers setting):
	// from then on every path of the port needs one's credentials.
	AddReaders(readers []Reader)
	// HasReaders reports whether the port has readers.
	HasReaders() bool
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
		a := &api{cfg: cfg.(*Config), set: set, mux: http.NewServeMux()}
		a.readers.Add(a.cfg.Readers)
		return a, nil
	}, metadata.ExtensionStability)
}

type api struct {
	cfg *Config
	set extension.Settings
	mux *http.ServeMux

	readers    Readers
	warnTokens sync.Once

	mu       sync.Mutex
	patterns map[string]bool
	server   *RunningServer
}

var _ Server = (*api)(nil)

func (a *api) Start(ctx context.Context, host component.Host) error {
	a.warnPlainTokens(a.cfg.Readers)
	srv, err := Serve(ctx, &a.cfg.ServerConfig, host, a.set.TelemetrySettings, a.readers.Guard(a.cfg.NetAddr.Endpoint, a.mux), "httpapi endpoint") // every path, whichever component mounted it
	if err != nil {
		return err
	}
	a.server = srv
	a.set.Logger.Info("API server listening", zap.String("endpoint", srv.Addr))
	return nil
}

func (a *api) Shutdown(ctx context.Context) error {
	err := a.server.Shutdown(ctx)
	a.server = nil
	return err
}

// RunningServer is an HTTP server started by Serve. Shutdown stops it and waits for its serving
// goroutine; it is a no-op on a nil Server.
type RunningServer struct {
	Addr string // the listen address
	srv  *http.Server
	done chan struct{}
}

// Shutdown stops serving, lets requests in flight finish (within ctx) and waits for the server.
func (r *RunningServer) Shutdown(ctx context.Context) error {
	if r == nil {
		return nil
	}
	err := r.srv.Shutdown(ctx)
	<-r.done
	return err
}

// Mux serves the routes (http.ServeMux patterns) on a component's own server.
func Mux(routes map[string]http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.Handle(pattern, h)
	}
	return mux
}

// Serve listens on cfg's endpoint and serves h with the collector's server settings (TLS, auth,
// middlewares) — for the API port and for components that keep their own server. setting names
// the endpoint's setting for the error.
func Serve(ctx context.Context, cfg *confighttp.ServerConfig, host component.Host, tel component.TelemetrySettings,
	h http.Handler, setting string) (*RunningServer, error) {
	ln, err := cfg.ToListener(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (%s): %w", cfg.NetAddr.Endpoint, setting, err)
	}
	srv, err := cfg.ToServer(ctx, host.GetExtensions(), tel, h)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	r := &RunningServer{Addr: ln.Addr().String(), srv: srv, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tel.Logger.Error("HTTP server stopped", zap.String("setting", setting), zap.Error(err))
		}
	}()
	return r, nil
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

func (a *api) AddReaders(readers []Reader) {
	a.readers.Add(readers)
	a.warnPlainTokens(readers)
}

func (a *api) HasReaders() bool { return a.readers.Len() > 0 }

// warnPlainTokens warns once, at start, when the port accepts bearer tokens over plain HTTP
// beyond loopback.
func (a *api) warnPlainTokens(readers []Reader) {
	for _, r := range readers {
		if len(r.BearerTokens) > 0 && !a.TLS() && !Loopback(a.cfg.NetAddr.Endpoint) {
			a.warnTokens.Do(func() { WarnPlainTokens(a.set.Logger, a.cfg.NetAddr.Endpoint, false, readers, "the httpapi extension") })
			return
		}
	}
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
