package main

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// The all-in-one role evaluates the built-in rule packs in its alert exporter. --rules adds rule
// files (or globs) to them and --alertmanager sends the alerts to Alertmanagers, without writing
// a config: both become --set flags of the collector.
const (
	rulesFlag        = "rules"
	alertmanagerFlag = "alertmanager"
	builtinRules     = "builtin:*.yaml"
)

// addAlertFlags documents the flags; withAlertFlags has already turned them into --set.
func addAlertFlags(cmd *cobra.Command) {
	cmd.Flags().StringArray(rulesFlag, nil,
		"Prometheus rule file or glob evaluated besides the built-in packs (repeatable; all-in-one's alert exporter)")
	cmd.Flags().StringArray(alertmanagerFlag, nil,
		"Alertmanager URL that receives the alerts, e.g. http://127.0.0.1:9093 (repeatable)")
}

// withAlertFlags replaces every --rules and --alertmanager (as "--name value" or "--name=value")
// by the equivalent --set of the alert exporter's rule_files and alertmanagers.
func withAlertFlags(args []string) []string {
	out, taken := takeFlags(args, rulesFlag, alertmanagerFlag)
	var rules, alerts []string
	for _, f := range taken {
		if f.name == rulesFlag {
			rules = append(rules, f.value)
		} else {
			alerts = append(alerts, f.value)
		}
	}
	if len(rules) > 0 {
		out = append(out, "--set=exporters::alert::rule_files="+yamlList(append([]string{builtinRules}, rules...)))
	}
	if len(alerts) > 0 {
		out = append(out, "--set=exporters::alert::alertmanagers="+yamlList(alerts))
	}
	return out
}

// flagValue is one occurrence of a flag taken out of the command line.
type flagValue struct{ name, value string }

// takeFlags takes every occurrence of the named flags ("--name value" or "--name=value") out of
// args, in order, and returns the other args. A named flag without a value stays in the args, for
// cobra to report.
func takeFlags(args []string, names ...string) (rest []string, taken []flagValue) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "--") || !slices.Contains(names, name) {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				rest = append(rest, a)
				continue
			}
			i++
			val = args[i]
		}
		taken = append(taken, flagValue{name, val})
	}
	return rest, taken
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
