package collectorcli

import (
	"fmt"

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

// MemoryLimitRatio is the share of the container's memory limit that Go's garbage collector keeps
// the process under (above the memory_limiter processors' 80%, which refuse data first).
const MemoryLimitRatio = 0.9

// SetMemoryLimit sets Go's soft memory limit (GOMEMLIMIT) to MemoryLimitRatio of the memory limit
// limit reports — the container's (cgroup) — so that the garbage collector works harder before
// the kernel would kill vigil for memory. It does nothing when GOMEMLIMIT is set, when
// AUTOMEMLIMIT=off, or without a limit; AUTOMEMLIMIT=0.8 sets another ratio. It returns the limit
// in force.
func SetMemoryLimit(limit memlimit.Provider) int64 {
	n, _ := memlimit.Set(memlimit.WithProvider(limit), memlimit.WithRatio(MemoryLimitRatio)) // no limit to read: Go's default stays
	return n
}

// healthFromStatusGate is the contrib health_check extension's feature gate that makes its answer
// follow the components' status instead of only the pipelines' start and stop.
const healthFromStatusGate = "extension.healthcheck.useComponentStatus"

// UseComponentStatusForHealth turns healthFromStatusGate on by default, before the flags are
// parsed (--feature-gates=-extension.healthcheck.useComponentStatus turns it off again): with
// the role configs' component_health.include_recoverable_errors, health_check answers 500 while a
// component reports a recoverable error — the walstorage extension does while the durable queue
// cannot write (a full disk) — and 200 again once it reports OK.
func UseComponentStatusForHealth() error {
	if err := featuregate.GlobalRegistry().Set(healthFromStatusGate, true); err != nil {
		return fmt.Errorf("cannot turn on the feature gate %s (health_check follows component status): %w", healthFromStatusGate, err)
	}
	return nil
}

// CollectorSettings returns the collector's settings of a vigil binary: its build info and
// factories, the configuration defaultURI when no --config is given, the file, env, yaml and
// embedded (deploy/config) providers, and vigil's converters.
func CollectorSettings(info component.BuildInfo, defaultURI string, factories func() (otelcol.Factories, error)) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// The default: replaced by any --config flag.
				URIs: []string{defaultURI},
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
					deployconfig.NewProviderFactory(),
				},
				ConverterFactories: []confmap.ConverterFactory{NewAPIExposureConverter(), NewUnsetBackendsConverter()},
				DefaultScheme:      "env",
			},
		},
	}
}

// Settings is what differs between vigil's binaries.
type Settings struct {
	BuildInfo component.BuildInfo
	// DefaultConfig is the configuration URI run without --config (and amended by --set alone).
	DefaultConfig string
	// Factories returns the binary's factories; validating is true under `validate`.
	Factories func(validating bool) (otelcol.Factories, error)
	// Short and Long are the root command's help.
	Short, Long string
	// Args are the command-line arguments.
	Args []string
	// AddRunFlags, if set, declares the binary's own flags on the commands that run or show a
	// configuration (the root command, validate, print-config); RunSets returns the --set values
	// (key=value) that those flags, as cobra parsed them, stand for.
	AddRunFlags func(cmd *cobra.Command)
	RunSets     func(cmd *cobra.Command) ([]string, error)
}

// NewCommand builds the collector's command (--config, --set, validate, components, featuregate,
// print-config) with what vigil's binaries add: --data-dir, the start banner, `validate`
// reporting every dangling reference and every unset optional backend, and `version`. It returns
// the command and the configuration URIs that the command line named once it is parsed (every --config, then every --set; the default configuration first
// when only --set values were given).
func NewCommand(s Settings) (*cobra.Command, func() []string) {
	gateErr := UseComponentStatusForHealth()
	validating := false
	set := CollectorSettings(s.BuildInfo, s.DefaultConfig, func() (otelcol.Factories, error) { return s.Factories(validating) })
	root := otelcol.NewCommand(set)
	for _, c := range root.Commands() {
		if c.Name() == "validate" {
			c.PreRunE = func(*cobra.Command, []string) error { validating = true; return nil }
		}
	}
	root.Short, root.Long = s.Short, s.Long
	root.SetArgs(s.Args)
	src := &configSource{}
	for _, c := range append([]*cobra.Command{root}, root.Commands()...) {
		if c == root || c.Name() == "validate" || c.Name() == "print-config" {
			src.watch(c)
			if s.AddRunFlags != nil {
				s.AddRunFlags(c)
			}
		}
	}

	dataDir := root.PersistentFlags().String("data-dir", "",
		"directory for everything stateful (default $VIGIL_DATA_DIR, else ./data)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := src.apply(cmd, s.RunSets, s.DefaultConfig); err != nil {
			return err
		}
		if gateErr != nil {
			return gateErr
		}
		_, err := PrepareDataDir(*dataDir)
		return err
	}
	run := root.RunE
	root.RunE = func(cmd *cobra.Command, cmdArgs []string) error {
		PrintBanner(cmd.OutOrStdout(), set, src.uris())
		return run(cmd, cmdArgs)
	}
	WithReferenceCheck(root, set, src.uris)
	WithUnsetBackendNotes(root, set, src.uris)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print " + s.BuildInfo.Command + "'s version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", s.BuildInfo.Command, s.BuildInfo.Version)
			return err
		},
	})
	return root, src.uris
}
