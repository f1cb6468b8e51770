package alertexporter

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promcfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
)

// newNotifier returns Prometheus's notifier configured with one Alertmanager set per URL (API v2)
// and the target groups to hand to its Run; its metrics go to reg.
func newNotifier(cfg *Config, logger *slog.Logger, reg prometheus.Registerer) (*notifier.Manager, map[string][]*targetgroup.Group, error) {
	ext := labels.FromMap(cfg.ExternalLabels)
	n := notifier.NewManager(&notifier.Options{QueueCapacity: 10_000, ExternalLabels: ext, Registerer: reg}, model.UTF8Validation, logger)
	conf := &config.Config{GlobalConfig: config.GlobalConfig{ExternalLabels: ext, MetricNameValidationScheme: model.UTF8Validation}}
	targets := map[string][]*targetgroup.Group{}
	for i, s := range cfg.Alertmanagers {
		u, err := parseAlertmanagerURL(s)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot configure alertmanagers: %w", err)
		}
		am := config.DefaultAlertmanagerConfig
		am.HTTPClientConfig = promcfg.DefaultHTTPClientConfig
		am.Scheme = u.Scheme
		am.PathPrefix = strings.TrimSuffix(u.Path, "/")
		am.Timeout = model.Duration(10 * time.Second)
		conf.AlertingConfig.AlertmanagerConfigs = append(conf.AlertingConfig.AlertmanagerConfigs, &am)
		key := fmt.Sprintf("config-%d", i) // the key config.AlertmanagerConfigs.ToMap gives
		targets[key] = []*targetgroup.Group{{
			Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(u.Host)}},
			Source:  s,
		}}
	}
	if err := n.ApplyConfig(conf); err != nil {
		return nil, nil, fmt.Errorf("cannot configure alertmanagers: %w", err)
	}
	return n, targets, nil
}
