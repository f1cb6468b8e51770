package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-obs/vigil/storage/archivequery"
)

func newArchiveQueryCommand(a *archiveFlags) *cobra.Command {
	var limit int
	var output string
	var forward bool
	var metric metricFlags
	cmd := &cobra.Command{
		Use:   "query LOGQL",
		Short: "Run a LogQL log or metric query over the archive",
		Long: `Run a LogQL log query over the archive: a stream selector over the labels
cluster, tenant, namespace, resource, verb, user and stage, then Loki's log pipeline
(line filters, | json, label filters, line_format). Newest first unless --forward.

  vigil archive query '{cluster="prod-eu", user="alice"}' --from 24h
  vigil archive query '{resource="secrets", verb=~"get|list"} | json | responseStatus_code >= 400' --output csv
  vigil archive query '{namespace="payments"} | json | line_format "{{.verb}} {{.objectRef_name}}"'

--output table (default) shows the time, the labels and the line; jsonl writes each matching event
exactly as archived, one per line; csv writes time, labels and line.

Metric queries are evaluated by Loki's own LogQL engine, so they mean what they mean in Loki:
count_over_time, rate, bytes_over_time, bytes_rate, sum/avg/min/max/quantile_over_time with
| unwrap, sum/count/avg/min/max/topk/bottomk by (...) or without (...), binary operations.
Windows are left-open, (t-range, t]. With --step the query is evaluated at --from, --from+step,
... up to --to (a range query: one value per series and step); without --step it is evaluated
once, at --to (default now), over the range written in its brackets (an instant query), and
--from is refused. Secret reads per user per day, for November:

  vigil archive query 'sum by (user) (count_over_time({resource="secrets", verb="get"}[1d]))' \
    --from 2026-11-02 --to 2026-12-01 --step 1d
  vigil archive query 'topk(5, sum by (user) (count_over_time({verb="delete"}[7d])))'
  vigil archive query 'quantile_over_time(0.99, {cluster="prod"} | json | unwrap responseStatus_code [1h]) by (verb)' --from 24h --step 1h -o csv

For metric queries --output table (default) and csv have a time column, a column per label and
the value; json writes Loki's result (resultType and result, as /loki/api/v1/query_range). A
query answering more than --max-series series (default 500), or of more than --max-points steps
(default 11000), is refused.

The query checks the archive where it reads: the hash chain of the manifest entries covering
--from/--to and every object it opens. When something is missing or damaged it still writes the
events (or counts) of the intact objects, lists the problems on stderr and exits with code 3
(other errors exit 1).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if archivequery.IsMetric(args[0]) {
				return a.runMetric(cmd, args[0], output, metric)
			}
			if metric.step != 0 {
				return errors.New("--step: only for metric queries; this is a log query")
			}
			if _, err := archivequery.Parse(args[0]); err != nil {
				return err
			}
			if err := checkOutput(output, "table", "jsonl", "csv"); err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit: %d must be 0 (no limit) or more", limit)
			}
			stderr := cmd.ErrOrStderr()
			results, st, _, err := a.runQuery(cmd, &archivequery.Query{Expr: args[0], Limit: limit, Forward: forward}, "scanning")
			if err != nil {
				return err
			}
			if err := writeResults(cmd.OutOrStdout(), output, results); err != nil {
				return err
			}
			if limit > 0 && len(results) == limit {
				fmt.Fprintf(stderr, "showing the first %d results (--limit); --limit 0 shows all\n", limit)
			}
			if output == "table" {
				fmt.Fprintf(stderr, "%d results; %d objects scanned (%d skipped), %d events, %.1f MB decompressed\n",
					len(results), st.Objects, st.ObjectsSkipped, st.Events, float64(st.RawBytes)/1e6)
			}
			return intact(st)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many results; 0 for all")
	cmd.Flags().BoolVar(&forward, "forward", false, "oldest first (default newest first)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, jsonl or csv (metric queries: table, csv or json)")
	metric.register(cmd)
	return cmd
}

func checkOutput(got string, allowed ...string) error {
	for _, a := range allowed {
		if got == a {
			return nil
		}
	}
	return fmt.Errorf("--output: %q is not one of %v", got, allowed)
}

// resultColumns are the label columns of table and csv output.
var resultColumns = []string{"cluster", "namespace", "user", "verb", "resource", "stage"}

func writeResults(w io.Writer, format string, results []archivequery.Result) error {
	switch format {
	case "jsonl":
		var buf bytes.Buffer
		for _, r := range results {
			buf.Write(r.Raw)
			buf.WriteByte('\n')
			if buf.Len() > 1<<20 {
				if _, err := w.Write(buf.Bytes()); err != nil {
					return err
				}
				buf.Reset()
			}
		}
		_, err := w.Write(buf.Bytes())
		return err
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(append(append([]string{"time"}, resultColumns...), "tenant", "line"))
		for _, r := range results {
			row := []string{r.Time.Format(time.RFC3339Nano)}
			for _, c := range resultColumns {
				row = append(row, r.Labels.Get(c))
			}
			_ = cw.Write(append(row, r.Labels.Get("tenant"), r.Line))
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tCLUSTER\tNAMESPACE\tUSER\tVERB\tRESOURCE\tSTAGE\tLINE")
		for _, r := range results {
			fmt.Fprint(tw, r.Time.Format(time.RFC3339Nano))
			for _, c := range resultColumns {
				v := r.Labels.Get(c)
				if v == "" {
					v = "-"
				}
				fmt.Fprint(tw, "\t", v)
			}
			fmt.Fprint(tw, "\t", r.Line, "\n")
		}
		return tw.Flush()
	}
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
