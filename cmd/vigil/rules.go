package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// newRulesCommand is `vigil rules`: tools for Prometheus rule files.
func newRulesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Work with Prometheus rule files (the alert exporter's rule_files)",
		Args:  cobra.NoArgs, // an unknown subcommand ("vigil rules tset") is an error, not help
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		// No data directory is needed to read rule files.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE_OR_GLOB...",
		Short: "Validate rule files with Prometheus's parser; print every problem with its file and rule",
		Long: "Validate Prometheus rule files (groups, alerting and recording rules, PromQL expressions,\n" +
			"label and annotation templates) with Prometheus's own rule file parser, and check that\n" +
			"vigil's streaming alert core can evaluate every rule (the check it applies when it loads\n" +
			"them: no @ modifier with a fixed time). Every problem is printed with its file, line, group\n" +
			"and rule; the exit status is non-zero if there is any. A running vigil skips such groups\n" +
			"(and reports them) instead. builtin:*.yaml names vigil's built-in rule packs.",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkRules(cmd, args)
		},
	})
	return cmd
}

func checkRules(cmd *cobra.Command, patterns []string) error {
	out := cmd.OutOrStdout()
	problems := 0
	names, err := rulefiles.Expand(patterns)
	if err != nil {
		problems++
		fmt.Fprintln(out, err)
	}
	bad := 0
	for _, name := range names {
		f, errs := rulefiles.Parse(name)
		if len(errs) == 0 {
			fmt.Fprintf(out, "%s: ok (%d groups, %d rules)\n", name, len(f.Groups), f.Rules())
			continue
		}
		bad++
		problems += len(errs)
		for _, e := range errs {
			fmt.Fprintln(out, e)
		}
	}
	if problems > 0 {
		return fmt.Errorf("cannot accept rule files: %d problems in %d of %d files", problems, bad, len(names))
	}
	return nil
}
