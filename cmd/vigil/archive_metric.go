package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grafana/loki/v3/pkg/util/marshal"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promql_parser "github.com/prometheus/prometheus/promql/parser"
	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/storage/archivequery"
)

// metricFlags are the flags of `vigil archive query` that only metric queries use.
type metricFlags struct {
	step      time.Duration
	maxSeries int
	maxPoints int
}

func (m *metricFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&m.step, "step", 0, "metric queries: evaluate at every step from --from to --to (a range query); without it, once at --to (an instant query)")
	cmd.Flags().IntVar(&m.maxSeries, "max-series", archivequery.DefaultMaxSeries, "metric queries: refuse an answer of more series")
	cmd.Flags().IntVar(&m.maxPoints, "max-points", archivequery.DefaultMaxPoints, "metric queries: refuse a range query of more steps per series")
}

// runMetric runs a metric query and writes its answer: a table or CSV of one row per series and
// time, or Loki's JSON result (resultType, result).
func (a *archiveFlags) runMetric(cmd *cobra.Command, expr, output string, m metricFlags) error {
	if _, err := archivequery.ParseMetric(expr); err != nil {
		return err
	}
	if err := checkOutput(output, "table", "csv", "json"); err != nil {
		return fmt.Errorf("%w for a metric query", err)
	}
	if m.step < 0 {
		return fmt.Errorf("--step: %s must be positive", m.step)
	}
	if m.maxSeries <= 0 || m.maxPoints <= 0 {
		return errors.New("--max-series and --max-points: must be positive")
	}
	now := time.Now().UTC()
	from, to, err := a.timeRange(now)
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = now
	}
	q := archivequery.MetricQuery{Expr: expr, End: to, Step: m.step, MaxSeries: m.maxSeries, MaxSeriesSetting: "--max-series",
		MaxPoints: m.maxPoints, MaxPointsSetting: "--max-points"}
	switch {
	case m.step > 0 && from.IsZero():
		return errors.New("--from: a range metric query (--step) needs a start, e.g. --from 7d")
	case m.step > 0:
		q.Start = from
	case !from.IsZero():
		return errors.New("--from: without --step a metric query is evaluated once, at --to, over the range in its own [brackets]; give --step for one value per step from --from to --to")
	default:
		q.Start = to
	}
	bkt, where, err := a.bucket(cmd)
	if err != nil {
		return err
	}
	defer bkt.Close()
	stderr := cmd.ErrOrStderr()
	eng := &archivequery.Engine{Bucket: bkt, Warn: func(err error) { fmt.Fprintln(stderr, "warning:", err) }}
	v, st, err := eng.RunMetric(cmd.Context(), q)
	if err != nil {
		return err
	}
	if !st.Intact() {
		fmt.Fprintf(stderr, "warning: the archive %s is not intact where this query read; the results count the events of the intact objects only:\n", where)
		for _, p := range st.Problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
	}
	if err := writeMetric(cmd.OutOrStdout(), output, v); err != nil {
		return err
	}
	if output == "table" {
		fmt.Fprintf(stderr, "%d objects scanned (%d skipped), %d events, %.1f MB decompressed\n",
			st.Objects, st.ObjectsSkipped, st.Events, float64(st.RawBytes)/1e6)
	}
	return intact(st)
}

// metricRow is one value of one series at one time.
type metricRow struct {
	t      int64 // milliseconds
	labels labels.Labels
	value  float64
}

func metricRows(v promql_parser.Value) []metricRow {
	var rows []metricRow
	switch v := v.(type) {
	case promql.Matrix:
		for _, s := range v {
			for _, p := range s.Floats {
				rows = append(rows, metricRow{t: p.T, labels: s.Metric, value: p.F})
			}
		}
	case promql.Vector:
		for _, s := range v {
			rows = append(rows, metricRow{t: s.T, labels: s.Metric, value: s.F})
		}
	case promql.Scalar:
		rows = append(rows, metricRow{t: v.T, labels: labels.EmptyLabels(), value: v.V})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].t != rows[j].t {
			return rows[i].t < rows[j].t
		}
		return labels.Compare(rows[i].labels, rows[j].labels) < 0
	})
	return rows
}

// writeMetric writes a metric answer: table and csv have a column per label name of the answer,
// json is Loki's result.
func writeMetric(w io.Writer, format string, v promql_parser.Value) error {
	if format == "json" {
		rv, err := marshal.NewResultValue(v)
		if err != nil {
			return err
		}
		return writeJSON(w, map[string]any{"resultType": rv.Type(), "result": rv})
	}
	rows := metricRows(v)
	names := map[string]bool{}
	for _, r := range rows {
		r.labels.Range(func(l labels.Label) { names[l.Name] = true })
	}
	var cols []string
	for n := range names {
		cols = append(cols, n)
	}
	sort.Strings(cols)
	record := func(r metricRow, empty string) []string {
		out := []string{time.UnixMilli(r.t).UTC().Format(time.RFC3339Nano)}
		for _, c := range cols {
			v := r.labels.Get(c)
			if v == "" {
				v = empty
			}
			out = append(out, v)
		}
		return append(out, strconv.FormatFloat(r.value, 'f', -1, 64))
	}
	if format == "csv" {
		cw := csv.NewWriter(w)
		_ = cw.Write(append(append([]string{"time"}, cols...), "value"))
		for _, r := range rows {
			_ = cw.Write(record(r, ""))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := []string{"TIME"}
	for _, c := range cols {
		header = append(header, strings.ToUpper(c))
	}
	fmt.Fprintln(tw, strings.Join(append(header, "VALUE"), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(record(r, "-"), "\t"))
	}
	return tw.Flush()
}
