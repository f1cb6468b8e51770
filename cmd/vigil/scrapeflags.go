package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
)

// --scrape, --scrape-config and --scrape-interval add the contrib prometheus receiver to the
// all-in-one role, in a pipeline of its own that feeds the alert exporter (metrics/scrape), without
// writing a config: like --rules, they become --set values of the collector (runSets).
// Without them nothing is scraped.
const (
	scrapeFlag         = "scrape"
	scrapeConfigFlag   = "scrape-config"
	scrapeIntervalFlag = "scrape-interval"

	defaultScrapeJob      = "scrape"
	defaultScrapeInterval = 15 * time.Second
	scrapePipeline        = "service::pipelines::metrics/scrape"
)

func addScrapeFlags(cmd *cobra.Command) {
	cmd.Flags().StringArray(scrapeFlag, nil,
		"[JOB=]URL of a Prometheus /metrics endpoint scraped into the alert exporter, e.g. node=http://127.0.0.1:9100/metrics (repeatable; job \""+defaultScrapeJob+"\" if none)")
	cmd.Flags().StringArray(scrapeConfigFlag, nil,
		"Prometheus scrape config file (a file with scrape_configs:, as Prometheus's scrape_config_files) scraped into the alert exporter (repeatable)")
	cmd.Flags().Duration(scrapeIntervalFlag, defaultScrapeInterval,
		"how often --scrape targets (and --scrape-config jobs without their own scrape_interval) are scraped")
}

// scrapeJob is one scrape_configs entry: one job; each target carries its own scheme, path and
// parameters as the __scheme__, __metrics_path__ and __param_<name> labels of its target group.
type scrapeJob struct {
	JobName       string         `json:"job_name"`
	StaticConfigs []staticConfig `json:"static_configs"`
}

type staticConfig struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// scrapeSets are the --set values (key=value) equivalent to the --scrape, --scrape-config and
// --scrape-interval values (intervalSet: --scrape-interval was given): the prometheus receiver's
// configuration and the metrics/scrape pipeline (prometheus -> memory_limiter, k8senrich -> alert).
// None without targets or configs. It reports every problem with the values at once.
func scrapeSets(targets, configFiles []string, interval time.Duration, intervalSet bool) ([]string, error) {
	var (
		configs []string
		errs    []error
	)
	for _, f := range configFiles {
		p, err := scrapeConfigFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		configs = append(configs, p)
	}
	if intervalSet && interval <= 0 {
		errs = append(errs, fmt.Errorf("--%s %q: want a positive duration such as 15s or 1m", scrapeIntervalFlag, interval))
	}
	if len(targets) == 0 && len(configs) == 0 {
		return nil, errors.Join(errs...)
	}
	jobs, err := scrapeJobs(targets)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var sets []string
	set := func(key string, v any) {
		b, _ := json.Marshal(v) // JSON is YAML; strings, slices and maps of strings always marshal
		sets = append(sets, key+"="+string(b))
	}
	set("receivers::prometheus::discovery_reload_on_startup", true) // first scrape at start, not after 5s
	set("receivers::prometheus::config::global::scrape_interval", model.Duration(interval).String())
	if len(jobs) > 0 {
		set("receivers::prometheus::config::scrape_configs", jobs)
	}
	if len(configs) > 0 {
		set("receivers::prometheus::config::scrape_config_files", configs)
	}
	set(scrapePipeline+"::receivers", []string{"prometheus"})
	set(scrapePipeline+"::processors", []string{"memory_limiter", "k8senrich"})
	set(scrapePipeline+"::exporters", []string{"alert"})
	return sets, nil
}

// scrapeConfigFile checks that a --scrape-config file (or glob) names at least one file, and
// makes it absolute: Prometheus would otherwise take a pattern that matches nothing as no jobs.
func scrapeConfigFile(pattern string) (string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) == 0 {
		return "", fmt.Errorf("--%s %q: no such file (want a Prometheus file with scrape_configs:, or a glob matching such files)", scrapeConfigFlag, pattern)
	}
	abs, err := filepath.Abs(pattern)
	if err != nil {
		return "", fmt.Errorf("--%s %q: %w", scrapeConfigFlag, pattern, err)
	}
	return abs, nil
}

// scrapeJobs turns "[JOB=]URL" values into scrape configs, one per job in order of appearance.
func scrapeJobs(values []string) ([]scrapeJob, error) {
	var (
		jobs []scrapeJob
		errs []error
	)
	for _, v := range values {
		job, raw := defaultScrapeJob, v
		// A job name is what precedes the first "=" when that comes before "://".
		if eq, scheme := strings.Index(v, "="), strings.Index(v, "://"); eq >= 0 && (scheme < 0 || eq < scheme) {
			job, raw = v[:eq], v[eq+1:]
		}
		tg, err := scrapeTarget(raw)
		if err == nil && job == "" {
			err = errors.New("the job name before '=' is empty")
		}
		if err != nil {
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				v = strings.TrimSuffix(v, raw) + u.Redacted()
			}
			errs = append(errs, fmt.Errorf("--%s %q: %w", scrapeFlag, v, err))
			continue
		}
		i := slices.IndexFunc(jobs, func(j scrapeJob) bool { return j.JobName == job })
		if i < 0 {
			jobs = append(jobs, scrapeJob{JobName: job})
			i = len(jobs) - 1
		}
		jobs[i].StaticConfigs = append(jobs[i].StaticConfigs, tg)
	}
	return jobs, errors.Join(errs...)
}

// scrapeTarget checks one URL and makes it a target group of one target.
func scrapeTarget(raw string) (staticConfig, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
		return staticConfig{}, errors.New("want an http:// or https:// URL such as http://127.0.0.1:9100/metrics")
	case u.Host == "":
		return staticConfig{}, errors.New("the URL has no host")
	case u.User != nil:
		return staticConfig{}, errors.New("credentials in the URL are refused (they would show in the process list): use --scrape-config with basic_auth and password_file")
	case u.Fragment != "":
		return staticConfig{}, errors.New("a URL with a #fragment cannot be scraped")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/metrics"
	}
	tg := staticConfig{Targets: []string{u.Host}, Labels: map[string]string{
		model.SchemeLabel:      u.Scheme,
		model.MetricsPathLabel: path,
	}}
	for name, vals := range u.Query() {
		if len(vals) > 1 {
			return staticConfig{}, fmt.Errorf("query parameter %q is repeated; a --scrape URL carries one value per parameter (use --scrape-config for more)", name)
		}
		tg.Labels[model.ParamLabelPrefix+name] = vals[0]
	}
	return tg, nil
}
