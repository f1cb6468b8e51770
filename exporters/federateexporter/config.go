package federateexporter

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// Config is the YAML configuration of the federate exporter.
type Config struct {
	// HTTPAPI names the httpapi extension (vigil's API port) that serves GET /federate, with its
	// TLS and readers (required).
	HTTPAPI *component.ID `mapstructure:"http_api"`
	// Match are the Prometheus series selectors of the series exposed at all, e.g.
	// ['{__name__=~"job:.*"}', 'up'] (default: every series). A scrape's match[] parameters narrow
	// them further.
	Match []string `mapstructure:"match"`
	// MaxSeries bounds the series held (default 200000); a new series beyond it is discarded
	// (reason max_series) until others expire.
	MaxSeries int `mapstructure:"max_series"`
	// ExpireAfter drops a series that has not been updated for this long (default 5m, as
	// Prometheus's lookback): a pod that is gone stops being exposed.
	ExpireAfter time.Duration `mapstructure:"expire_after"`
	// ExternalLabels are added to every series (default none).
	ExternalLabels map[string]string `mapstructure:"external_labels"`
}

func createDefaultConfig() component.Config {
	return &Config{MaxSeries: 200000, ExpireAfter: 5 * time.Minute}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.HTTPAPI == nil {
		errs = append(errs, errors.New("http_api: must name the httpapi extension that serves /federate, e.g. http_api: httpapi"))
	}
	if _, err := c.selectors(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf("max_series: %d must be positive", c.MaxSeries))
	}
	if c.ExpireAfter <= 0 {
		errs = append(errs, fmt.Errorf("expire_after: %q must be a positive duration, e.g. 5m", c.ExpireAfter))
	}
	for k := range c.ExternalLabels {
		if k == "" || k == model.MetricNameLabel {
			errs = append(errs, fmt.Errorf("external_labels: %q is not allowed as a label name", k))
		}
	}
	return errors.Join(errs...)
}

// selectors parses Match; nil means every series.
func (c *Config) selectors() ([][]*labels.Matcher, error) {
	return parseSelectors("match", c.Match)
}

// parseSelectors parses Prometheus series selectors; setting names where they came from.
func parseSelectors(setting string, sels []string) ([][]*labels.Matcher, error) {
	var (
		out  [][]*labels.Matcher
		errs []error
	)
	for _, s := range sels {
		m, err := rulefiles.Parser.ParseMetricSelector(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a series selector (e.g. up or {job=~\"node.*\"}): %w", setting, s, err))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}
