package main

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
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

	"github.com/vigil-obs/vigil/connectors/redconnector"
	"github.com/vigil-obs/vigil/connectors/servicemapconnector"
	"github.com/vigil-obs/vigil/exporters/alertexporter"
	"github.com/vigil-obs/vigil/exporters/archiveexporter"
	"github.com/vigil-obs/vigil/exporters/lokipushexporter"
	"github.com/vigil-obs/vigil/exporters/opensearchexporter"
	"github.com/vigil-obs/vigil/exporters/promrwexporter"
	"github.com/vigil-obs/vigil/extensions/bodylimitextension"
	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/extensions/walstorageextension"
	"github.com/vigil-obs/vigil/processors/clusteridentityprocessor"
	"github.com/vigil-obs/vigil/processors/evidenceprocessor"
	"github.com/vigil-obs/vigil/processors/fluentk8sprocessor"
	"github.com/vigil-obs/vigil/processors/k8senrichprocessor"
	"github.com/vigil-obs/vigil/processors/redactprocessor"
	"github.com/vigil-obs/vigil/processors/tracecontextprocessor"
	"github.com/vigil-obs/vigil/receivers/archivequeryreceiver"
	"github.com/vigil-obs/vigil/receivers/containerlogsreceiver"
	"github.com/vigil-obs/vigil/receivers/k8sauditreceiver"
	"github.com/vigil-obs/vigil/receivers/lokipushreceiver"
	"github.com/vigil-obs/vigil/receivers/otlprelayreceiver"
	"github.com/vigil-obs/vigil/receivers/promrwreceiver"
	"github.com/vigil-obs/vigil/receivers/replicationreceiver"
)

// components returns every factory built into vigil: the core components it reuses and its own.
func components() (otelcol.Factories, error) { return factories(false) }

// factories returns the factories; with checkRules (`vigil validate`), the alert exporter's
// configurations also report every problem of their rule files.
func factories(checkRules bool) (otelcol.Factories, error) {
	var alertOpts []alertexporter.FactoryOption
	if checkRules {
		alertOpts = append(alertOpts, alertexporter.WithRuleFilesChecked())
	}
	var errs []error
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
		prometheusreceiver.NewFactory(),
		k8sauditreceiver.NewFactory(),
		otlprelayreceiver.NewFactory(),
		archivequeryreceiver.NewFactory(),
		replicationreceiver.NewFactory(),
		promrwreceiver.NewFactory(),
		lokipushreceiver.NewFactory(),
		containerlogsreceiver.NewFactory(),
		fluentforwardreceiver.NewFactory(), // fluent_forward: fluentd/Fluent Bit forward (no TLS, no auth: node-local)
	)
	errs = append(errs, err)
	processors, err := otelcol.MakeFactoryMap[processor.Factory](
		memorylimiterprocessor.NewFactory(),
		k8senrichprocessor.NewFactory(),
		clusteridentityprocessor.NewFactory(),
		redactprocessor.NewFactory(),
		evidenceprocessor.NewFactory(),
		tracecontextprocessor.NewFactory(),
		fluentk8sprocessor.NewFactory(),
	)
	errs = append(errs, err)
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](
		otlpexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
		debugexporter.NewFactory(),
		nopexporter.NewFactory(),
		opensearchexporter.NewFactory(),
		archiveexporter.NewFactory(),
		alertexporter.NewFactory(alertOpts...),
		promrwexporter.NewFactory(),
		lokipushexporter.NewFactory(),
	)
	errs = append(errs, err)
	extensions, err := otelcol.MakeFactoryMap[extension.Factory](
		healthcheckextension.NewFactory(),
		pprofextension.NewFactory(),
		filestorage.NewFactory(),
		clusterauthextension.NewFactory(),
		bodylimitextension.NewFactory(),
		evidenceextension.NewFactory(),
		walstorageextension.NewFactory(),
		httpapiextension.NewFactory(),
	)
	errs = append(errs, err)
	connectors, err := otelcol.MakeFactoryMap[connector.Factory](
		redconnector.NewFactory(),
		spanmetricsconnector.NewFactory(), // still accepted in users' configs; the shipped ones use red
		servicemapconnector.NewFactory(),
	)
	errs = append(errs, err)
	for _, e := range errs {
		if e != nil {
			return otelcol.Factories{}, e
		}
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
