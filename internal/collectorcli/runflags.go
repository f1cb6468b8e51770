package collectorcli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// configSource is what the command line says about the configuration, as cobra parsed it: every
// --config value and every --set, in order. A binary's run flags (vigil's --rules, --alertmanager,
// --scrape…) are cobra flags like the collector's own; once cobra has parsed the command line,
// apply turns them into --set values of the collector's flag, so nothing rewrites the command
// line before cobra reads it.
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

// apply turns the run flags that cmd parsed into --set values of the collector's flag (runSets
// says which), and adds the default configuration when values are set but no --config names a
// configuration, so that they amend the defaults instead of replacing them. A command without the
// collector's --set flag is left alone.
func (s *configSource) apply(cmd *cobra.Command, runSets func(*cobra.Command) ([]string, error), defaultURI string) error {
	flags := cmd.Flags()
	if flags.Lookup("set") == nil {
		return nil
	}
	if runSets != nil {
		sets, err := runSets(cmd)
		if err != nil {
			return err
		}
		for _, v := range sets {
			if err := flags.Set("set", v); err != nil {
				return err
			}
		}
	}
	if len(s.configs) == 0 && len(s.sets) > 0 {
		return flags.Set("config", defaultURI)
	}
	return nil
}
