package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-obs/vigil/exporters/lokipushexporter"
	"github.com/vigil-obs/vigil/internal/rulefiles"
	"github.com/vigil-obs/vigil/internal/testutil"
)

// correlationTag marks the dashboards over the clusters' own data in the backends (Prometheus,
// Loki), not over vigil's /metrics: their queries are run against the real backends that the
// end-to-end tests fill (checkCorrelationPrometheus, checkCorrelationLoki).
const correlationTag = "correlation"

// correlationQueries returns the queries of the correlation dashboards by data source type
// ("prometheus" or "loki"), keyed by dashboard file and panel or variable, with Grafana's
// variables replaced by what "All" and the built-in intervals stand for.
func correlationQueries(t *testing.T) map[string]map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../dashboards/*.json")
	require.NoError(t, err)
	grafana := strings.NewReplacer(`"$cluster"`, `".+"`, `"$service"`, `".+"`,
		"$__rate_interval", "1m", "$__auto", "5m")
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []target `json:"targets"`
	}
	out := map[string]map[string]string{"prometheus": {}, "loki": {}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			Tags       []string `json:"tags"`
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Type       string `json:"type"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
			Panels []panel `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &d), f)
		if !slices.Contains(d.Tags, correlationTag) {
			continue
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			// label_values(SELECTOR, LABEL): the selector must select something.
			inner, ok := strings.CutPrefix(v.Definition, "label_values(")
			require.True(t, ok, "%s: variable %s: %q", f, v.Name, v.Definition)
			sel := inner[:strings.LastIndex(inner, ",")]
			out["prometheus"][fmt.Sprintf("%s: variable %s", filepath.Base(f), v.Name)] = grafana.Replace(sel)
		}
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			want := map[string]string{"prometheus": "${datasource}", "loki": "${loki}"}[p.Datasource.Type]
			require.NotEmpty(t, want, "%s: panel %q: data source type %q", f, p.Title, p.Datasource.Type)
			require.Equal(t, want, p.Datasource.UID, "%s: panel %q: use the dashboard's data source variable", f, p.Title)
			require.NotEmpty(t, p.Targets, "%s: panel %q has no query", f, p.Title)
			for i, tg := range p.Targets {
				out[p.Datasource.Type][fmt.Sprintf("%s: %s [%d]", filepath.Base(f), p.Title, i)] = grafana.Replace(tg.Expr)
			}
		}
	}
	require.NotEmpty(t, out["prometheus"], "no correlation dashboard with Prometheus panels")
	require.NotEmpty(t, out["loki"], "no correlation dashboard with Loki panels")
	return out
}

// TestCorrelationDashboardParses: every query of the correlation dashboards is valid PromQL or
// LogQL (cheap; the end-to-end tests also run them against real servers).
func TestCorrelationDashboardParses(t *testing.T) {
	qs := correlationQueries(t)
	for where, q := range qs["prometheus"] {
		_, err := rulefiles.Parser.ParseExpr(q)
		require.NoError(t, err, "%s: %s", where, q)
	}
	for where, q := range qs["loki"] {
		_, err := syntax.ParseExpr(q)
		require.NoError(t, err, "%s: %s", where, q)
	}
}

// checkCorrelationPrometheus runs every Prometheus query of the correlation dashboards against a
// Prometheus that vigil has filled with RED metrics from spans; each must return data.
func checkCorrelationPrometheus(t *testing.T, prom *testutil.Prometheus) {
	t.Helper()
	qs := correlationQueries(t)["prometheus"]
	testutil.Eventually(t, 90*time.Second, func() error {
		for where, q := range qs {
			if _, err := prom.Query(q); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		return nil
	})
}

// checkCorrelationLoki runs every Loki query of the correlation dashboards against a Loki that
// vigil has filled with application logs (info, warn and error lines); each must return data.
func checkCorrelationLoki(t *testing.T, lokiURL string) {
	t.Helper()
	for where, q := range correlationQueries(t)["loki"] {
		testutil.Eventually(t, 30*time.Second, func() error {
			n, err := lokiResults(lokiURL, q)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if n == 0 {
				return fmt.Errorf("%s: %s: no result", where, q)
			}
			return nil
		})
	}
}

// lokiResults runs a LogQL query (log or metric) over the last hour and returns how many
// streams or series it answered.
func lokiResults(base, q string) (int, error) {
	qr, err := lokiQuery(base, url.Values{"query": {q}, "limit": {"100"}, "step": {"15"},
		"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixNano(), 10)}, "end": {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)}})
	switch r := qr.Data.Result.(type) {
	case loghttp.Streams:
		return len(r), err
	case loghttp.Matrix:
		return len(r), err
	case loghttp.Vector:
		return len(r), err
	}
	return 0, err
}

// exemplarTraceLabel is the exemplar label that names a trace in Prometheus (Prometheus's OTLP
// translation, which the promrw exporter uses).
const exemplarTraceLabel = "trace_id"

// TestProvisionedDataSourcesLinkWhatVigilWrites: the Grafana provisioning shipped beside the
// dashboards links the signals by the names vigil really writes — the exemplar label, Loki's
// structured metadata for the trace ID, and the Loki labels of the span's identity.
func TestProvisionedDataSourcesLinkWhatVigilWrites(t *testing.T) {
	b, err := os.ReadFile("../../dashboards/provisioning/datasources.yaml")
	require.NoError(t, err)
	var prov struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				Exemplars []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
				DerivedFields []struct {
					MatcherType   string `yaml:"matcherType"`
					MatcherRegex  string `yaml:"matcherRegex"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"derivedFields"`
				TracesToLogs struct {
					DatasourceUID string `yaml:"datasourceUid"`
					Tags          []struct {
						Key   string `yaml:"key"`
						Value string `yaml:"value"`
					} `yaml:"tags"`
				} `yaml:"tracesToLogsV2"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(b, &prov))
	uids := map[string]string{}
	for _, d := range prov.Datasources {
		uids[d.Type] = d.UID
	}
	require.Len(t, uids, 3, "prometheus, loki and jaeger")
	for _, d := range prov.Datasources {
		switch d.Type {
		case "prometheus":
			require.Len(t, d.JSONData.Exemplars, 1)
			require.Equal(t, exemplarTraceLabel, d.JSONData.Exemplars[0].Name)
			require.Equal(t, uids["jaeger"], d.JSONData.Exemplars[0].DatasourceUID)
		case "loki":
			require.Len(t, d.JSONData.DerivedFields, 1)
			f := d.JSONData.DerivedFields[0]
			require.Equal(t, "label", f.MatcherType, "trace_id is structured metadata, not in the line")
			require.Equal(t, lokipushexporter.MetadataTraceID, f.MatcherRegex)
			require.Equal(t, uids["jaeger"], f.DatasourceUID)
		case "jaeger":
			require.Equal(t, uids["loki"], d.JSONData.TracesToLogs.DatasourceUID)
			require.NotEmpty(t, d.JSONData.TracesToLogs.Tags)
			for _, tag := range d.JSONData.TracesToLogs.Tags {
				require.Equal(t, tag.Key, lokipushexporter.LabelAttributes[tag.Value],
					"span attribute %s is the Loki label %s", tag.Key, tag.Value)
			}
		}
	}
}
