package main

import (
	"github.com/spf13/cobra"
)

// addRunFlags declares vigil's run flags on a command that runs or validates a configuration.
func addRunFlags(cmd *cobra.Command) {
	addAlertFlags(cmd)
	addScrapeFlags(cmd)
}

// runSets are the --set values (key=value) that the run flags cmd parsed stand for, and every
// bad value at once.
func runSets(cmd *cobra.Command) ([]string, error) {
	flags := cmd.Flags()
	if flags.Lookup(rulesFlag) == nil {
		return nil, nil
	}
	rules, _ := flags.GetStringArray(rulesFlag)
	alertmanagers, _ := flags.GetStringArray(alertmanagerFlag)
	targets, _ := flags.GetStringArray(scrapeFlag)
	scrapeConfigs, _ := flags.GetStringArray(scrapeConfigFlag)
	interval, _ := flags.GetDuration(scrapeIntervalFlag)
	sets, err := scrapeSets(targets, scrapeConfigs, interval, flags.Changed(scrapeIntervalFlag))
	if err != nil {
		return nil, err
	}
	return append(alertSets(rules, alertmanagers), sets...), nil
}
