package main

import (
	"io"
	"testing"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/otelcol"
)

// parseRunFlags parses args with the collector's command and vigil's run flags, as newRootCommand
// does, and returns the configuration URIs the collector would resolve.
func parseRunFlags(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	cmd := otelcol.NewCommand(collectorSettings())
	src := &configSource{}
	src.watch(cmd)
	addRunFlags(cmd)
	cmd.RunE = func(c *cobra.Command, _ []string) error { return applyRunFlags(c, src) }
	cmd.PersistentFlags().String("data-dir", "", "")
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	return src.uris(), err
}
