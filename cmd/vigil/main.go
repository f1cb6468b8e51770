// Command vigil is the vigil OpenTelemetry Collector distribution: the agent, the gateway and the
// all-in-one role, chosen by configuration. Run without --config it starts the all-in-one role with
// the embedded defaults of deploy/config/allinone.yaml.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/otelcol"

	deployconfig "github.com/vigil-obs/vigil/deploy/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	setMemoryLimit(memlimit.FromCgroup)
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		// cobra has already printed the error.
		os.Exit(exitCode(err))
	}
}

// memoryLimitRatio is the share of the container's memory limit that Go's garbage collector keeps
// the process under (above the memory_limiter processors' 80%, which refuse data first).
const memoryLimitRatio = 0.9

// setMemoryLimit sets Go's soft memory limit (GOMEMLIMIT) to memoryLimitRatio of the memory limit
// limit reports — the container's (cgroup) — so that the garbage collector works harder before
// the kernel would kill vigil for memory. It does nothing when GOMEMLIMIT is set, when
// AUTOMEMLIMIT=off, or without a limit; AUTOMEMLIMIT=0.8 sets another ratio. It returns the limit
// in force.
func setMemoryLimit(limit memlimit.Provider) int64 {
	n, _ := memlimit.Set(memlimit.WithProvider(limit), memlimit.WithRatio(memoryLimitRatio)) // no limit to read: Go's default stays
	return n
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

func collectorSettings() otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: buildInfo(),
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// The default: replaced by any --config flag.
				URIs: []string{deployconfig.AllInOne},
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
					deployconfig.NewProviderFactory(),
				},
				ConverterFactories: []confmap.ConverterFactory{newAPIExposureConverter(), newUnsetBackendsConverter()},
				DefaultScheme:      "env",
			},
		},
	}
}

// healthFromStatusGate is the contrib health_check extension's feature gate that makes its answer
// follow the components' status instead of only the pipelines' start and stop.
const healthFromStatusGate = "extension.healthcheck.useComponentStatus"

// useComponentStatusForHealth turns healthFromStatusGate on by default, before the flags are
// parsed (--feature-gates=-extension.healthcheck.useComponentStatus turns it off again): with
// the role configs' component_health.include_recoverable_errors, health_check answers 500 while a
// component reports a recoverable error — the walstorage extension does while the durable queue
// cannot write (a full disk) — and 200 again once it reports OK.
func useComponentStatusForHealth() error {
	if err := featuregate.GlobalRegistry().Set(healthFromStatusGate, true); err != nil {
		return fmt.Errorf("cannot turn on the feature gate %s (health_check follows component status): %w", healthFromStatusGate, err)
	}
	return nil
}

// newRootCommand builds the collector's command (--config, --set, validate, components,
// featuregate, print-config) and adds vigil's own flags and subcommands.
func newRootCommand(args []string) *cobra.Command {
	gateErr := useComponentStatusForHealth()
	set := collectorSettings()
	// `vigil validate` also checks the contents of the alert exporters' rule files; running vigil
	// does not fail on them (a bad group is skipped and reported).
	checkRules := false
	set.Factories = func() (otelcol.Factories, error) { return factories(checkRules) }
	root := otelcol.NewCommand(set)
	for _, c := range root.Commands() {
		if c.Name() == "validate" {
			c.PreRunE = func(*cobra.Command, []string) error { checkRules = true; return nil }
		}
	}
	root.Short = "vigil collects, correlates and routes metrics, logs, traces and Kubernetes audit logs"
	root.Long = root.Short + ".\n\nWithout --config, vigil runs the all-in-one role on 127.0.0.1 with embedded defaults\n" +
		"(" + deployconfig.AllInOne + "; also available: embedded:agent.yaml, embedded:gateway.yaml)."
	root.SetArgs(args)
	src := &configSource{}

	dataDir := root.PersistentFlags().String("data-dir", "",
		"directory for everything stateful (default $VIGIL_DATA_DIR, else ./data)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyRunFlags(cmd, src); err != nil {
			return err
		}
		if gateErr != nil {
			return gateErr
		}
		_, err := prepareDataDir(*dataDir)
		return err
	}
	run := root.RunE
	root.RunE = func(cmd *cobra.Command, cmdArgs []string) error {
		printBanner(cmd.OutOrStdout(), set, src.uris())
		return run(cmd, cmdArgs)
	}
	withReferenceCheck(root, set, src)
	withUnsetBackendNotes(root, set, src)
	// The run flags are declared on the commands that run or show a configuration (running,
	// validate, print-config), not as global flags: the archive and rules commands do not take them.
	for _, c := range append([]*cobra.Command{root}, root.Commands()...) {
		if c == root || c.Name() == "validate" || c.Name() == "print-config" {
			src.watch(c)
			addRunFlags(c)
		}
	}
	root.AddCommand(newRulesCommand())
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print vigil's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vigil %s\n", version)
			return err
		},
	})
	root.AddCommand(newArchiveCommand())
	return root
}
