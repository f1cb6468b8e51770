package otlprelayreceiver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/vigil-obs/vigil/internal/k8spod"
	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// Config is the YAML configuration of the otlprelay receiver.
type Config struct {
	// Protocols are the OTLP listeners: grpc (default 127.0.0.1:4317) and http (default
	// 127.0.0.1:4318, paths /v1/logs, /v1/traces, /v1/metrics). At least one.
	Protocols Protocols `mapstructure:"protocols"`
	// Storage is the storage extension of the durable queue (walstorage, whose max_bytes bounds
	// it). Required.
	Storage *component.ID `mapstructure:"storage"`
	// ResourceAttributes are set (string values, replacing an attribute of the same key) on
	// every resource of every request: the node's identity. A key with an empty value (an unset
	// environment variable) is not set. Default: none.
	ResourceAttributes map[string]string `mapstructure:"resource_attributes"`
	// PodMetadata adds, per resource, the identity of the pod that sent it (namespace, pod name
	// and uid, workload, chosen labels) from the Kubernetes API, as the k8senrich processor does,
	// without decoding the request. Default: off.
	PodMetadata PodMetadataConfig `mapstructure:"pod_metadata"`
	// Forward is the gateway's OTLP/gRPC receiver.
	Forward ForwardConfig `mapstructure:"forward"`
	// MaxInflightBytes bounds the request bytes being received, checked and queued at once;
	// beyond it requests are refused with 429 / RESOURCE_EXHAUSTED and Retry-After until some
	// finish, so that a burst of clients cannot take the agent's memory (default 67108864).
	MaxInflightBytes int64 `mapstructure:"max_inflight_bytes"`
	// NumSenders is the number of concurrent exports per signal (default 4). Requests cut for n
	// gateways (routing by item) are sent by senders that each take n of them: n calls at once.
	NumSenders int `mapstructure:"num_senders"`
	// MaxExportBytes bounds one export: queued requests are concatenated up to this many bytes,
	// uncompressed (default 4194304; a single larger request is sent alone). Keep it below the
	// gateway's max_recv_msg_size_mib.
	MaxExportBytes int `mapstructure:"max_export_bytes"`
	// BatchWait is how long a sender waits for more requests to gather before it takes the
	// queued ones, when its last export was not full (default 5ms; 0: at once). Requests are
	// acknowledged before (they are on disk); it only delays their delivery, and spares the
	// gateway many small exports when clients send small requests.
	BatchWait time.Duration `mapstructure:"batch_wait"`
	// Timeout bounds one export (default 10s).
	Timeout time.Duration `mapstructure:"timeout"`
	// Retry is the backoff between failed exports of the same requests, which are retried until
	// the gateway takes them (the queue on disk holds them meanwhile).
	Retry RetryConfig `mapstructure:"retry"`
	// RetryAfter is sent to clients with 429 / RESOURCE_EXHAUSTED and 503 / UNAVAILABLE
	// (default 5s).
	RetryAfter time.Duration `mapstructure:"retry_after"`
}

// Protocols are the receiver's listeners.
type Protocols struct {
	GRPC configoptional.Optional[configgrpc.ServerConfig] `mapstructure:"grpc"`
	HTTP configoptional.Optional[confighttp.ServerConfig] `mapstructure:"http"`
}

// ForwardConfig is the client of the gateway. Exports are OTLP/gRPC calls over HTTP/2 whose
// messages are the queued requests, zstd-compressed as they were queued.
type ForwardConfig struct {
	// Endpoint is host:port of the gateway's OTLP/gRPC receiver, or dns:///host:port: every
	// address of host is a gateway replica (a headless Service), resolved again every
	// resolve_interval. Required unless endpoints is set.
	Endpoint string `mapstructure:"endpoint"`
	// Endpoints are host:port of several gateway replicas, instead of endpoint. Default: none.
	Endpoints []string `mapstructure:"endpoints"`
	// ResolveInterval is how often the host of a dns:/// endpoint is resolved again (default 15s).
	ResolveInterval time.Duration `mapstructure:"resolve_interval"`
	// RoutingKey decides which gateway replica this agent's exports go to (rendezvous hashing
	// over the replicas that are up). Default: the k8s.node.name of resource_attributes, else
	// the host name.
	RoutingKey string `mapstructure:"routing_key"`
	// Routing is the routing key of each signal, when there are several gateways: what must meet
	// on one gateway replica.
	Routing RoutingConfig `mapstructure:"routing"`
	// TLS: ca_file, cert_file and key_file (mTLS), server_name_override, min_version…; insecure:
	// true for HTTP/2 without TLS. Default: TLS with the system's roots.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Headers are added to every export (e.g. a bearer token). Default: none.
	Headers map[string]configopaque.String `mapstructure:"headers"`
	// CompressionLevel is the zstd level requests are queued and sent at: fastest (the default),
	// default (the level of the collector's zstd), better or best. On access logs fastest took
	// about two thirds of default's CPU for the same size (benchmarks/RESULTS.md).
	CompressionLevel string `mapstructure:"compression_level"`
}

// RoutingConfig chooses, per signal, what decides the gateway replica its data goes to. With
// one gateway up, requests go whole, undecoded, whatever it says.
type RoutingConfig struct {
	// Traces: trace_id (the default: each span goes to the gateway its trace ID ranks first, so
	// that all spans of a trace meet on one replica, whichever agents they came through; the
	// relay splits requests on the wire) or node (the agent's routing_key: all of this agent's
	// spans go to one replica, requests undecoded).
	Traces string `mapstructure:"traces"`
	// Metrics: node (the default: the agent's routing_key; a series comes from one agent, so
	// each series goes to one gateway, and all series of a node meet there, which rules that
	// join a node's series — the built-in packs — need) or series (each data point goes to the
	// gateway its series — resource attributes, metric name, point attributes — ranks first;
	// split as traces: finer spread, but a rule joining two series sees both only on a gateway
	// that receives all metrics).
	Metrics string `mapstructure:"metrics"`
	// Logs: node (the default: the agent's routing_key) or cluster (the k8s.cluster.name of
	// resource_attributes, else routing_key: all agents of a cluster send their logs to one
	// replica). Log requests are never split.
	Logs string `mapstructure:"logs"`
}

const (
	routeTraceID = "trace_id"
	routeSeries  = "series"
	routeNode    = "node"
	routeCluster = "cluster"
)

// PodMetadataConfig is the pod lookup: enabled, auth_type, labels, sync_timeout (as in the
// k8senrich processor) and the node whose pods are looked up.
type PodMetadataConfig struct {
	k8spod.Config `mapstructure:",squash"`
	// NodeName is the node this agent runs on (default $K8S_NODE_NAME, from the downward API).
	NodeName string `mapstructure:"node_name"`
}

// RetryConfig is an exponential backoff with jitter.
type RetryConfig struct {
	// InitialInterval is the wait after the first failure (default 1s).
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	// MaxInterval caps the wait (default 30s).
	MaxInterval time.Duration `mapstructure:"max_interval"`
}

func createDefaultConfig() *Config {
	grpcCfg := configgrpc.NewDefaultServerConfig()
	grpcCfg.NetAddr.Endpoint = "127.0.0.1:4317"
	grpcCfg.MaxRecvMsgSizeMiB = 16
	httpCfg := confighttp.NewDefaultServerConfig()
	httpCfg.NetAddr.Endpoint = "127.0.0.1:4318"
	httpCfg.MaxRequestBodySize = 16 << 20
	return &Config{
		Protocols: Protocols{
			GRPC: configoptional.Default(grpcCfg),
			HTTP: configoptional.Default(httpCfg),
		},
		PodMetadata: PodMetadataConfig{Config: k8spod.DefaultConfig(), NodeName: os.Getenv("K8S_NODE_NAME")},
		Forward: ForwardConfig{
			TLS: configtls.NewDefaultClientConfig(), CompressionLevel: "fastest", ResolveInterval: 15 * time.Second,
			Routing: RoutingConfig{Traces: routeTraceID, Metrics: routeNode, Logs: routeNode},
		},
		NumSenders:       4,
		MaxInflightBytes: 64 << 20,
		MaxExportBytes:   4 << 20,
		BatchWait:        5 * time.Millisecond,
		Timeout:          10 * time.Second,
		Retry:            RetryConfig{InitialInterval: time.Second, MaxInterval: 30 * time.Second},
		RetryAfter:       5 * time.Second,
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if !c.Protocols.GRPC.HasValue() && !c.Protocols.HTTP.HasValue() {
		errs = append(errs, errors.New("protocols: must enable grpc, http or both"))
	}
	if c.Storage == nil {
		errs = append(errs, errors.New("storage: must name the storage extension of the durable queue (walstorage)"))
	}
	switch {
	case len(c.Forward.Endpoints) > 0 && c.Forward.Endpoint != "":
		errs = append(errs, fmt.Errorf("forward: set endpoint %q or endpoints, not both", c.Forward.Endpoint))
	case len(c.Forward.Endpoints) > 0:
		for _, e := range c.Forward.Endpoints {
			if !isHostPort(e) {
				errs = append(errs, fmt.Errorf("forward::endpoints: %q must be host:port of a gateway's OTLP/gRPC receiver, e.g. vigil-gateway-0.vigil-gateway-headless:4317", e))
			}
		}
	default:
		if !isHostPort(strings.TrimPrefix(c.Forward.Endpoint, dnsScheme)) {
			errs = append(errs, fmt.Errorf("forward::endpoint: %q must be host:port of the gateway's OTLP/gRPC receiver, e.g. vigil-gateway:4317, or dns:///host:port for every address of host (a headless Service)", c.Forward.Endpoint))
		}
	}
	if c.Forward.ResolveInterval < time.Second {
		errs = append(errs, fmt.Errorf("forward::resolve_interval: %q must be at least 1s", c.Forward.ResolveInterval))
	}
	for _, r := range []struct{ key, value, a, b string }{
		{"traces", c.Forward.Routing.Traces, routeTraceID, routeNode},
		{"metrics", c.Forward.Routing.Metrics, routeSeries, routeNode},
		{"logs", c.Forward.Routing.Logs, routeNode, routeCluster},
	} {
		if r.value != r.a && r.value != r.b {
			errs = append(errs, fmt.Errorf("forward::routing::%s: %q: use %s or %s", r.key, r.value, r.a, r.b))
		}
	}
	if ok, _ := zstd.EncoderLevelFromString(c.Forward.CompressionLevel); !ok {
		errs = append(errs, fmt.Errorf("forward::compression_level: %q: use fastest, default, better or best", c.Forward.CompressionLevel))
	}
	if err := c.Forward.TLS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("forward::tls: %w", err))
	}
	if c.MaxInflightBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_inflight_bytes: %d must be positive", c.MaxInflightBytes))
	}
	if c.NumSenders <= 0 {
		errs = append(errs, fmt.Errorf("num_senders: %d must be positive", c.NumSenders))
	}
	if c.MaxExportBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_export_bytes: %d must be positive", c.MaxExportBytes))
	}
	if c.BatchWait < 0 {
		errs = append(errs, fmt.Errorf("batch_wait: %q must not be negative", c.BatchWait))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %q must be positive", c.Timeout))
	}
	if c.Retry.InitialInterval <= 0 || c.Retry.MaxInterval < c.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("retry: initial_interval %q must be positive and max_interval %q at least as long",
			c.Retry.InitialInterval, c.Retry.MaxInterval))
	}
	if c.RetryAfter <= 0 {
		errs = append(errs, fmt.Errorf("retry_after: %q must be positive", c.RetryAfter))
	}
	if err := c.PodMetadata.Validate(c.PodMetadata.NodeName, "pod_metadata.node_name"); err != nil {
		errs = append(errs, err)
	}
	for k := range c.ResourceAttributes {
		if k == "" {
			errs = append(errs, errors.New("resource_attributes: a key is empty"))
		}
	}
	return errors.Join(errs...)
}

// isHostPort reports whether s is host:port (a name or an address, and a port number).
func isHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	return err == nil && host != "" && !strings.Contains(s, "/") && isPort(port)
}

// routingKey is forward::routing_key, else the k8s.node.name of resource_attributes, else the host name.
func (c *Config) routingKey() string {
	if c.Forward.RoutingKey != "" {
		return c.Forward.RoutingKey
	}
	if n := c.ResourceAttributes["k8s.node.name"]; n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

// signalKey is the routing key of the gateway of signal s's requests when they are not split:
// the k8s.cluster.name of resource_attributes for logs with routing::logs cluster (when set),
// else routingKey.
func (c *Config) signalKey(s otlpwire.Signal) string {
	if s == otlpwire.Logs && c.Forward.Routing.Logs == routeCluster {
		if n := c.ResourceAttributes["k8s.cluster.name"]; n != "" {
			return n
		}
	}
	return c.routingKey()
}

// perItem reports whether requests of signal s are split by item (trace ID, series) over the
// gateways up.
func (c *Config) perItem(s otlpwire.Signal) bool {
	switch s {
	case otlpwire.Traces:
		return c.Forward.Routing.Traces == routeTraceID
	case otlpwire.Metrics:
		return c.Forward.Routing.Metrics == routeSeries
	}
	return false
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

// attrs are the resource attributes in key order.
func (c *Config) attrs() []otlpwire.Attr {
	out := make([]otlpwire.Attr, 0, len(c.ResourceAttributes))
	for k, v := range c.ResourceAttributes {
		if v == "" {
			continue
		}
		out = append(out, otlpwire.Attr{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
