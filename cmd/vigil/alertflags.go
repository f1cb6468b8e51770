package main

import (
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
func addAlertFlags(root *cobra.Command) {
	root.PersistentFlags().StringArray(rulesFlag, nil,
		"Prometheus rule file or glob evaluated besides the built-in packs (repeatable; all-in-one's alert exporter)")
	root.PersistentFlags().StringArray(alertmanagerFlag, nil,
		"Alertmanager URL that receives the alerts, e.g. http://127.0.0.1:9093 (repeatable)")
}

// withAlertFlags replaces every --rules and --alertmanager (as "--name value" or "--name=value")
// by the equivalent --set of the alert exporter's rule_files and alertmanagers.
func withAlertFlags(args []string) []string {
	var (
		out           []string
		rules, alerts []string
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "--") || (name != rulesFlag && name != alertmanagerFlag) {
			out = append(out, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				out = append(out, a) // cobra reports the missing value
				continue
			}
			i++
			val = args[i]
		}
		if name == rulesFlag {
			rules = append(rules, val)
		} else {
			alerts = append(alerts, val)
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

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
