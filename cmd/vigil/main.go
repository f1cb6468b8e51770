// Command vigil is the vigil OpenTelemetry Collector distribution: the agent, the gateway and the
// all-in-one role, chosen by configuration. Run without --config it starts the all-in-one role with
// the embedded defaults of deploy/config/allinone.yaml.
package main

import (
	"errors"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"

	deployconfig "github.com/vigil-obs/vigil/deploy/config"
	"github.com/vigil-obs/vigil/internal/collectorcli"
	"github.com/vigil-obs/vigil/internal/components/allroles"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	collectorcli.SetMemoryLimit(memlimit.FromCgroup)
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		// cobra has already printed the error.
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit code for an error of a command: exitNotIntact when an archive query or
// export found the archive damaged, 1 otherwise.
func exitCode(err error) int {
	var ni *notIntactError
	if errors.As(err, &ni) {
		return exitNotIntact
	}
	return 1
}

func buildInfo() component.BuildInfo {
	return component.BuildInfo{
		Command:     "vigil",
		Description: "vigil: unified observability aggregator for multi-cluster Kubernetes",
		Version:     version,
	}
}

// collectorSettings are the collector's settings of vigil: every role's factories, the all-in-one
// configuration by default.
func collectorSettings() otelcol.CollectorSettings {
	return collectorcli.CollectorSettings(buildInfo(), deployconfig.AllInOne, func() (otelcol.Factories, error) { return allroles.All(false) })
}

// newRootCommand builds the collector's command as every vigil binary has it
// (internal/collectorcli: --config, --set, --data-dir, validate, components, version, ...) and
// adds the flags and subcommands of vigil's other roles: --rules, --alertmanager, --scrape*,
// rules, archive.
func newRootCommand(args []string) *cobra.Command {
	root, _ := collectorcli.NewCommand(commandSettings(args))
	root.AddCommand(newRulesCommand())
	root.AddCommand(newArchiveCommand())
	return root
}

// commandSettings are vigil's settings of the shared command: every role's factories, the
// all-in-one configuration by default, and the run flags (declared on the commands that run or
// show a configuration, not as global flags: the archive and rules commands do not take them).
func commandSettings(args []string) collectorcli.Settings {
	short := "vigil collects, correlates and routes metrics, logs, traces and Kubernetes audit logs"
	return collectorcli.Settings{
		BuildInfo:     buildInfo(),
		DefaultConfig: deployconfig.AllInOne,
		// `vigil validate` also checks the contents of the alert exporters' rule files; running
		// vigil does not fail on them (a bad group is skipped and reported).
		Factories: allroles.All,
		Short:     short,
		Long: short + ".\n\nWithout --config, vigil runs the all-in-one role on 127.0.0.1 with embedded defaults\n" +
			"(" + deployconfig.AllInOne + "; also available: embedded:agent.yaml, embedded:gateway.yaml).",
		Args:        args,
		AddRunFlags: addRunFlags,
		RunSets:     runSets,
	}
}
