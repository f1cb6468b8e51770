package main

import (
	"io"
	"testing"

	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/internal/collectorcli"
)

// parseRunFlags parses args with vigil's command, as newRootCommand builds it, and returns the
// configuration URIs the collector would resolve (without running it).
func parseRunFlags(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	root, uris := collectorcli.NewCommand(commandSettings(append([]string{"--data-dir", t.TempDir()}, args...)))
	root.RunE = func(*cobra.Command, []string) error { return nil }
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err := root.Execute()
	return uris(), err
}
