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
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"

	deployconfig "github.com/vigil-obs/vigil/deploy/config"
	"github.com/vigil-obs/vigil/internal/collectorcli"
	"github.com/vigil-obs/vigil/internal/components"
	"github.com/vigil-obs/vigil/internal/grpczstd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	setGCPercent()
	collectorcli.SetMemoryLimit(memlimit.FromCgroup)
	grpczstd.Install() // zstd encoders of one block encoder each: less memory held per queue consumer
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		os.Exit(1) // cobra has already printed the error.
	}
}

// defaultGCPercent is the agent's GOGC when the environment sets none: the heap may grow to 1.5×
// what is live between collections instead of Go's 2× (GOGC=100). At 10 MB/s of container logs
// it held about 25 MiB less anonymous memory for about a fifth more CPU per MB
// (benchmarks/RESULTS.md); GOGC=100 in the environment trades the memory back.
const defaultGCPercent = 50

// setGCPercent sets Go's GC percent to defaultGCPercent unless GOGC is set, and returns the
// percent in force.
func setGCPercent() int {
	if _, set := os.LookupEnv("GOGC"); set {
		p := debug.SetGCPercent(-1) // read it, and put it back
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
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
