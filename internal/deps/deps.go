// Package deps pins modules whose packages vigil is starting to use (LogQL for the archive query;
// the Alertmanager v2 client for the alert core) until the packages that import them land.
package deps

import (
	_ "github.com/grafana/loki/v3/pkg/logql/log"
	_ "github.com/grafana/loki/v3/pkg/logql/syntax"
	_ "github.com/prometheus/alertmanager/api/v2/client"
)
