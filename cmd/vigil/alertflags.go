package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// The all-in-one role evaluates the built-in rule packs in its alert exporter. --rules adds rule
// files (or globs) to them and --alertmanager sends the alerts to Alertmanagers, without writing
// a config: both become --set values of the collector (runSets).
const (
	rulesFlag        = "rules"
	alertmanagerFlag = "alertmanager"
	builtinRules     = "builtin:*.yaml"
)

// addAlertFlags declares the flags; runSets turns them into --set values.
func addAlertFlags(cmd *cobra.Command) {
	cmd.Flags().StringArray(rulesFlag, nil,
		"Prometheus rule file or glob evaluated besides the built-in packs (repeatable; all-in-one's alert exporter)")
	cmd.Flags().StringArray(alertmanagerFlag, nil,
		"Alertmanager URL that receives the alerts, e.g. http://127.0.0.1:9093 (repeatable)")
}

// alertSets are the --set values (key=value) equivalent to the --rules and --alertmanager values:
// the alert exporter's rule_files (the built-in packs and the rules) and alertmanagers.
func alertSets(rules, alertmanagers []string) []string {
	var sets []string
	if len(rules) > 0 {
		sets = append(sets, "exporters::alert::rule_files="+yamlList(append([]string{builtinRules}, rules...)))
	}
	if len(alertmanagers) > 0 {
		sets = append(sets, "exporters::alert::alertmanagers="+yamlList(alertmanagers))
	}
	return sets
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
