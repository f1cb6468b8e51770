// Command vigil-agent is vigil's agent alone: the binary the DaemonSet runs on every node. It is
// cmd/vigil's command line (internal/collectorcli) with only the agent's components
// (components.Agent: OTLP relay and receiver, container logs, audit files, fluentd forward,
// k8senrich, redact, the durable queue, OTLP to the gateway) — none of the gateway's, the
// archive's or the alert core's, whose code and static data would cost every node memory. Run
// without --config it runs the agent role of deploy/config/agent.yaml; any configuration it runs,
// vigil runs too.
package main

import (
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"

	deployconfig "github.com/vigil-obs/vigil/deploy/config"
	"github.com/vigil-obs/vigil/internal/collectorcli"
	"github.com/vigil-obs/vigil/internal/components"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	collectorcli.SetMemoryLimit(memlimit.FromCgroup)
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		os.Exit(1) // cobra has already printed the error.
	}
}

func newRootCommand(args []string) *cobra.Command {
	short := "vigil-agent collects a node's logs, metrics, traces and audit logs and forwards them to the vigil gateway"
	root, _ := collectorcli.NewCommand(collectorcli.Settings{
		BuildInfo: component.BuildInfo{
			Command:     "vigil-agent",
			Description: "vigil-agent: the vigil agent for a Kubernetes node",
			Version:     version,
		},
		DefaultConfig: deployconfig.Agent,
		Factories:     func(bool) (otelcol.Factories, error) { return components.Agent() },
		Short:         short,
		Long: short + ".\n\nWithout --config, vigil-agent runs " + deployconfig.Agent + " (also available: " +
			"embedded:agent-pod-metadata.yaml as a second --config). Its components are the agent's only: " +
			"the gateway, the archive and the alert core are in the vigil binary.",
		Args: args,
	})
	return root
}
