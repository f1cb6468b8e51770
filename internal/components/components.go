// Package components lists the collector factories built into vigil's binaries, by role. Agent is
// what a node runs (cmd/vigil-agent); allroles.All is every role (cmd/vigil): the agent's factories
// and the gateway's, the archive's and the alert core's on top, so that every configuration the
// agent binary runs, vigil runs too. The agent's list leaves out what costs memory on every node —
// the alert core (Prometheus' promql and rules), Loki's LogQL, the archive's object stores and
// cloud SDKs, the prometheus receiver's service discovery. They are in a package of their own
// (allroles) because Go links, and initialises, every package a binary imports, called or not.
package components

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/vigil-obs/vigil/extensions/bodylimitextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/processors/fluentk8sprocessor"
	"github.com/vigil-obs/vigil/processors/k8senrichprocessor"
	"github.com/vigil-obs/vigil/processors/redactprocessor"
	"github.com/vigil-obs/vigil/receivers/containerlogsreceiver"
	"github.com/vigil-obs/vigil/receivers/k8sauditreceiver"
	"github.com/vigil-obs/vigil/receivers/otlprelayreceiver"
)

// Lists are a binary's factories, by kind.
type Lists struct {
	Receivers  []receiver.Factory
	Processors []processor.Factory
	Exporters  []exporter.Factory
	Extensions []extension.Factory
	Connectors []connector.Factory
}

// AgentLists are what deploy/config/agent.yaml and its overlays (agent-pod-metadata.yaml,
// deploy/examples/fluentforward-in.yaml) name, with the exporters and extensions one needs to
// look at an agent (debug, pprof). No prometheus receiver: scraping on the node (the commented-out
// metrics/scrape pipeline of agent.yaml) needs the vigil binary.
func AgentLists() Lists {
	return Lists{
		Receivers: []receiver.Factory{
			otlpreceiver.NewFactory(),
			otlprelayreceiver.NewFactory(),
			k8sauditreceiver.NewFactory(),
			containerlogsreceiver.NewFactory(),
			fluentforwardreceiver.NewFactory(), // fluent_forward: fluentd/Fluent Bit forward (no TLS, no auth: node-local)
		},
		Processors: []processor.Factory{
			memorylimiterprocessor.NewFactory(),
			k8senrichprocessor.NewFactory(),
			redactprocessor.NewFactory(),
			fluentk8sprocessor.NewFactory(),
		},
		Exporters: []exporter.Factory{
			otlpexporter.NewFactory(),
			otlphttpexporter.NewFactory(),
			debugexporter.NewFactory(),
			nopexporter.NewFactory(),
		},
		Extensions: []extension.Factory{
			healthcheckextension.NewFactory(),
			pprofextension.NewFactory(),
			bodylimitextension.NewFactory(),
			walstorageextension.NewFactory(),
		},
	}
}

// Agent returns the factories of the agent binary (cmd/vigil-agent).
func Agent() (otelcol.Factories, error) { return AgentLists().Factories() }

// Factories makes the collector's factory maps of l; a name given twice is an error.
func (l Lists) Factories() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap(l.Receivers...)
	if err != nil {
		return otelcol.Factories{}, err
	}
	processors, err := otelcol.MakeFactoryMap(l.Processors...)
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap(l.Exporters...)
	if err != nil {
		return otelcol.Factories{}, err
	}
	extensions, err := otelcol.MakeFactoryMap(l.Extensions...)
	if err != nil {
		return otelcol.Factories{}, err
	}
	connectors, err := otelcol.MakeFactoryMap(l.Connectors...)
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{
		Receivers:  receivers,
		Processors: processors,
		Exporters:  exporters,
		Extensions: extensions,
		Connectors: connectors,
		Telemetry:  otelconftelemetry.NewFactory(),
	}, nil
}
