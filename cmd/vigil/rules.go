package main

import (
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/rulestest"
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
	var run string
	test := &cobra.Command{
		Use:   "test TEST_FILE...",
		Short: "Run Prometheus rule unit tests (promtool's format) with vigil's streaming alert core",
		Long: "Run rule unit test files in promtool's format (rule_files, evaluation_interval,\n" +
			"group_eval_order, tests with input_series, alert_rule_test and promql_expr_test): the input\n" +
			"series are fed to vigil's streaming alert core in time order, which evaluates the rule groups\n" +
			"at every evaluation_interval; alert_rule_test compares its firing alerts, promql_expr_test\n" +
			"evaluates expressions with Prometheus's engine over the input and what the rules wrote. A rule\n" +
			"the core cannot evaluate fails its tests, with file, group and rule. rule_files are relative to\n" +
			"the test file (globs, builtin:*.yaml). Exit status 0 if every test passes, 1 otherwise.",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return testRules(cmd, run, args)
		},
	}
	test.Flags().StringVar(&run, "run", "", "run only the test groups whose name matches this regular expression")
	cmd.AddCommand(test)
	return cmd
}

func testRules(cmd *cobra.Command, run string, files []string) error {
	var re *regexp.Regexp
	if run != "" {
		var err error
		if re, err = regexp.Compile(run); err != nil {
			return fmt.Errorf("--run: %q is not a regular expression: %w", run, err)
		}
	}
	s := rulestest.Run(cmd.Context(), cmd.OutOrStdout(), re, files...)
	if !s.OK() {
		return fmt.Errorf("rule tests failed: %d of %d test groups failed, %d of %d files could not be read",
			s.Failed, s.Groups, s.BadFiles, s.Files+s.BadFiles)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "ok: %d test groups passed in %d files\n", s.Groups, s.Files)
	return nil
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
