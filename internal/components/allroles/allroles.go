// Package allroles lists the factories of every vigil role: the vigil binary's (cmd/vigil).
package allroles

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/vigil-obs/vigil/connectors/redconnector"
	"github.com/vigil-obs/vigil/connectors/servicemapconnector"
	"github.com/vigil-obs/vigil/exporters/alertexporter"
	"github.com/vigil-obs/vigil/exporters/archiveexporter"
	"github.com/vigil-obs/vigil/exporters/federateexporter"
	"github.com/vigil-obs/vigil/exporters/lokipushexporter"
	"github.com/vigil-obs/vigil/exporters/opensearchexporter"
	"github.com/vigil-obs/vigil/exporters/promrwexporter"
	"github.com/vigil-obs/vigil/extensions/clusterauthextension"
	"github.com/vigil-obs/vigil/extensions/evidenceextension"
	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/internal/components"
	"github.com/vigil-obs/vigil/processors/clusteridentityprocessor"
	"github.com/vigil-obs/vigil/processors/evidenceprocessor"
	"github.com/vigil-obs/vigil/processors/tracecontextprocessor"
	"github.com/vigil-obs/vigil/receivers/archivequeryreceiver"
	"github.com/vigil-obs/vigil/receivers/lokipushreceiver"
	"github.com/vigil-obs/vigil/receivers/promrwreceiver"
	"github.com/vigil-obs/vigil/receivers/replicationreceiver"
)

// All returns every factory built into vigil (cmd/vigil): the agent's and every other role's.
// With checkRules (`vigil validate`), the alert exporter's configurations also report every
// problem of their rule files.
func All(checkRules bool) (otelcol.Factories, error) {
	var alertOpts []alertexporter.FactoryOption
	if checkRules {
		alertOpts = append(alertOpts, alertexporter.WithRuleFilesChecked())
	}
	l := components.AgentLists()
	l.Receivers = append(l.Receivers,
		prometheusreceiver.NewFactory(),
		archivequeryreceiver.NewFactory(),
		replicationreceiver.NewFactory(),
		promrwreceiver.NewFactory(),
		lokipushreceiver.NewFactory(),
	)
	l.Processors = append(l.Processors,
		clusteridentityprocessor.NewFactory(),
		evidenceprocessor.NewFactory(),
		tracecontextprocessor.NewFactory(),
	)
	l.Exporters = append(l.Exporters,
		opensearchexporter.NewFactory(),
		archiveexporter.NewFactory(),
		alertexporter.NewFactory(alertOpts...),
		promrwexporter.NewFactory(),
		lokipushexporter.NewFactory(),
		federateexporter.NewFactory(),
	)
	l.Extensions = append(l.Extensions,
		filestorage.NewFactory(),
		clusterauthextension.NewFactory(),
		evidenceextension.NewFactory(),
		httpapiextension.NewFactory(),
	)
	l.Connectors = append(l.Connectors,
		spanmetricsconnector.NewFactory(), // for users' configs; the shipped ones use red
		redconnector.NewFactory(),
		servicemapconnector.NewFactory(),
	)
	return l.Factories()
}
