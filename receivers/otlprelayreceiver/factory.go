package otlprelayreceiver

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/receivers/otlprelayreceiver/internal/metadata"
)

// Type is the component type of the receiver in YAML.
var Type = metadata.Type

// NewFactory returns the factory of the otlprelay receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(func(_ context.Context, set receiver.Settings, cfg component.Config, _ consumer.Logs) (receiver.Logs, error) {
			return relayFor(set, cfg.(*Config), otlpwire.Logs)
		}, metadata.LogsStability),
		receiver.WithTraces(func(_ context.Context, set receiver.Settings, cfg component.Config, _ consumer.Traces) (receiver.Traces, error) {
			return relayFor(set, cfg.(*Config), otlpwire.Traces)
		}, metadata.TracesStability),
		receiver.WithMetrics(func(_ context.Context, set receiver.Settings, cfg component.Config, _ consumer.Metrics) (receiver.Metrics, error) {
			return relayFor(set, cfg.(*Config), otlpwire.Metrics)
		}, metadata.MetricsStability))
}

var (
	sharedMu sync.Mutex
	shared   = map[*Config]*relay{}
)

// relayFor returns the relay of cfg, shared by the signals it serves (one listener for all
// three), with signal enabled. The pipeline's consumer is not used: the relay forwards itself.
func relayFor(set receiver.Settings, cfg *Config, signal otlpwire.Signal) (*signalReceiver, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	r, ok := shared[cfg]
	if !ok {
		var err error
		if r, err = newRelay(set, cfg); err != nil {
			return nil, err
		}
		shared[cfg] = r
	}
	r.enabled[signal] = true
	return &signalReceiver{relay: r}, nil
}

// signalReceiver is the receiver of one signal; the first Start starts the shared relay and
// the last Shutdown stops it.
type signalReceiver struct {
	relay   *relay
	once    sync.Once
	started bool
}

func (s *signalReceiver) Start(ctx context.Context, host component.Host) error {
	err := s.relay.start(ctx, host)
	s.started = err == nil
	return err
}

func (s *signalReceiver) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if !s.started {
			return
		}
		var last bool
		if last, err = s.relay.shutdown(ctx); last {
			sharedMu.Lock()
			delete(shared, s.relay.cfg)
			sharedMu.Unlock()
		}
	})
	return err
}
