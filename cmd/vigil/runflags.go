package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	deployconfig "github.com/vigil-obs/vigil/deploy/config"
)

// configSource is what the command line says about the configuration, as cobra parsed it: every
// --config value and every --set, in order. vigil's run flags (--rules, --alertmanager, --scrape…)
// are cobra flags like the collector's own; once cobra has parsed the command line, applyRunFlags
// turns them into --set values of the collector's flag, so nothing rewrites the command line
// before cobra reads it.
type configSource struct {
	configs []string // --config values
	sets    []string // --set values, as "yaml:" URIs the way the collector turns them
}

// uris are the configuration URIs the collector resolves: every --config, then every --set.
func (s *configSource) uris() []string {
	return append(append([]string(nil), s.configs...), s.sets...)
}

// watch makes the --config and --set flags of cmd (the collector's, when cmd has them) also record
// their values in s.
func (s *configSource) watch(cmd *cobra.Command) {
	if f := cmd.Flags().Lookup("config"); f != nil {
		f.Value = &recordingValue{Value: f.Value, record: func(v string) { s.configs = append(s.configs, v) }}
	}
	if f := cmd.Flags().Lookup("set"); f != nil {
		f.Value = &recordingValue{Value: f.Value, record: func(v string) {
			if key, val, ok := strings.Cut(v, "="); ok { // as the collector's --set does
				s.sets = append(s.sets, "yaml:"+strings.TrimSpace(strings.ReplaceAll(key, ".", "::"))+": "+strings.TrimSpace(val))
			}
		}}
	}
}

// recordingValue passes every value on to the flag's own Value and records the ones it took.
type recordingValue struct {
	pflag.Value
	record func(string)
}

func (r *recordingValue) Set(v string) error {
	if err := r.Value.Set(v); err != nil {
		return err
	}
	r.record(v)
	return nil
}

// addRunFlags declares vigil's run flags on a command that runs or validates a configuration.
func addRunFlags(cmd *cobra.Command) {
	addAlertFlags(cmd)
	addScrapeFlags(cmd)
}

// applyRunFlags turns the run flags that cmd parsed into --set values of the collector's flag, and
// adds the all-in-one configuration when values are set but no --config names a configuration,
// so that they amend the defaults instead of replacing them. It reports every bad value at once.
// A command without the run flags (the archive and rules commands) is left alone.
func applyRunFlags(cmd *cobra.Command, src *configSource) error {
	flags := cmd.Flags()
	if flags.Lookup(rulesFlag) == nil || flags.Lookup("set") == nil {
		return nil
	}
	rules, _ := flags.GetStringArray(rulesFlag)
	alertmanagers, _ := flags.GetStringArray(alertmanagerFlag)
	targets, _ := flags.GetStringArray(scrapeFlag)
	scrapeConfigs, _ := flags.GetStringArray(scrapeConfigFlag)
	interval, _ := flags.GetDuration(scrapeIntervalFlag)
	sets, err := scrapeSets(targets, scrapeConfigs, interval, flags.Changed(scrapeIntervalFlag))
	if err != nil {
		return err
	}
	for _, s := range append(alertSets(rules, alertmanagers), sets...) {
		if err := flags.Set("set", s); err != nil {
			return err
		}
	}
	if len(src.configs) == 0 && len(src.sets) > 0 {
		return flags.Set("config", deployconfig.AllInOne)
	}
	return nil
}
