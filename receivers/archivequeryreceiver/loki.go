package archivequeryreceiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/grafana/loki/v3/pkg/logproto"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/grafana/loki/v3/pkg/logqlmodel"
	"github.com/grafana/loki/v3/pkg/util/marshal"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

// maxSeries bounds the answers of /series and /label/{name}/values.
const maxSeries = 10000

// answer is what a handler produced: a body for success, or an error and its status.
type answer struct {
	code     int
	body     any
	err      error
	query    string // recorded in the query audit record
	results  int
	problems int // problems of the archive the query found (recorded too)
}

func fail(code int, query string, err error) answer {
	return answer{code: code, err: err, query: query}
}

func (r *queryReceiver) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"/loki/api/v1/query_range":         r.handle(r.queryRange),
		"/loki/api/v1/query":               r.handle(r.instantQuery),
		"/loki/api/v1/labels":              r.handle(r.labelNames),
		"/loki/api/v1/label/{name}/values": r.handle(r.labelValues),
		"/loki/api/v1/series":              r.handle(r.series),
		"/loki/api/v1/index/stats":         r.handle(r.indexStats),
		"/loki/api/v1/index/volume":        r.handle(r.volume),
		"/loki/api/v1/index/volume_range":  r.handle(r.volumeRange),
		"/loki/api/v1/detected_labels":     r.handle(r.detectedLabels),
		"/loki/api/v1/detected_fields":     r.handle(r.detectedFields),
		"/loki/api/v1/tail":                http.HandlerFunc(r.tail),
		"/loki/api/v1/status/buildinfo": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"version": r.set.BuildInfo.Version, "application": "vigil archive"})
		}),
		"/ready": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ready\n")) }),
	}
}

// handle authenticates, runs the handler within the timeout, records the query in the audit
// trail, and only then answers: a query that cannot be recorded gets no results.
func (r *queryReceiver) handle(f func(context.Context, *http.Request) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		received := time.Now()
		if req.Method != http.MethodGet && req.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed: use GET or POST", http.StatusMethodNotAllowed)
			return
		}
		reader, err := r.reader(req)
		if err != nil {
			httpapiextension.Refuse(w, err)
			return
		}
		if err := req.ParseForm(); err != nil {
			http.Error(w, "cannot parse the request parameters: "+err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Timeout)
		defer cancel()
		ans := f(ctx, req)
		if errors.Is(ans.err, context.DeadlineExceeded) {
			ans = fail(http.StatusGatewayTimeout, ans.query, fmt.Errorf("the query took longer than %s (archivequery timeout): narrow the time range or the selector", r.cfg.Timeout))
		}
		// The record gets its own deadline: a query that used all of its time is still recorded.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(req.Context()), 30*time.Second)
		defer rcancel()
		if err := r.record(rctx, req, reader, received, ans); err != nil {
			r.logger.Error("cannot record an archive query in the audit trail; results withheld")
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot record this query in the audit trail, so its results are withheld: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if ans.err != nil {
			http.Error(w, ans.err.Error(), ans.code)
			return
		}
		writeJSON(w, ans.code, ans.body)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// streamJSON is one stream of a Loki "streams" result.
type streamJSON struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

func (r *queryReceiver) queryRange(ctx context.Context, req *http.Request) answer {
	rq, err := loghttp.ParseRangeQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, req.Form.Get("query"), err)
	}
	expr, err := syntax.ParseExpr(rq.Query)
	if err != nil {
		return fail(http.StatusBadRequest, rq.Query, err)
	}
	if _, ok := expr.(syntax.SampleExpr); ok {
		return r.metricQuery(ctx, archivequery.MetricQuery{Expr: rq.Query, Start: rq.Start, End: rq.End, Step: rq.Step})
	}
	if int(rq.Limit) > r.cfg.MaxLimit {
		return fail(http.StatusBadRequest, rq.Query, fmt.Errorf("max entries limit per query exceeded, limit > max_limit (%d > %d; archivequery max_limit)", rq.Limit, r.cfg.MaxLimit))
	}
	results, st, err := r.engine.Run(ctx, archivequery.Query{Expr: rq.Query, From: rq.Start, To: rq.End,
		Limit: int(rq.Limit), Forward: rq.Direction == logproto.FORWARD})
	if err != nil {
		return fail(statusOf(err), rq.Query, err)
	}
	body := map[string]any{"status": "success", "data": map[string]any{
		"resultType": "streams", "result": groupStreams(results),
		"stats": map[string]any{"summary": map[string]any{
			"totalBytesProcessed": st.RawBytes, "totalLinesProcessed": st.Events, "totalEntriesReturned": len(results),
		}},
	}}
	r.warnNotIntact(body, rq.Query, st)
	return answer{code: http.StatusOK, body: body, query: rq.Query, results: len(results), problems: len(st.Problems)}
}

// maxWarnings bounds the warnings of one answer; the rest are counted in the last one.
const maxWarnings = 50

// warnNotIntact adds to a Loki answer, in Loki's "warnings" field (Grafana shows them with the
// results), what the query found wrong with the archive, and logs it.
func (r *queryReceiver) warnNotIntact(body map[string]any, query string, st archivequery.Stats) {
	if st.Intact() {
		return
	}
	warnings := make([]string, 0, min(len(st.Problems), maxWarnings)+1)
	for i, p := range st.Problems {
		if i == maxWarnings {
			warnings = append(warnings, fmt.Sprintf("archive not intact: %d more problems (run vigil archive verify)", len(st.Problems)-maxWarnings))
			break
		}
		warnings = append(warnings, "archive not intact: "+p.String()+"; the results hold the events of the intact objects only (run vigil archive verify)")
	}
	body["warnings"] = warnings
	r.logger.Warn("archive query: the archive is not intact where the query read; answered with the events of the intact objects",
		zap.String("query", query), zap.Int("problems", len(st.Problems)), zap.Stringer("first", st.Problems[0]))
}

// groupStreams groups results into Loki streams by their labels after the pipeline, keeping
// the results' order within each stream and ordering streams by their first result.
func groupStreams(results []archivequery.Result) []streamJSON {
	out := []streamJSON{}
	index := map[uint64]int{}
	for _, res := range results {
		h := res.Parsed.Hash()
		i, ok := index[h]
		if !ok {
			i = len(out)
			index[h] = i
			out = append(out, streamJSON{Stream: res.Parsed.Map()})
		}
		out[i].Values = append(out[i].Values, [2]string{strconv.FormatInt(res.Time.UnixNano(), 10), res.Line})
	}
	return out
}

func statusOf(err error) int {
	var pe archivequery.ParseError
	var le *archivequery.LimitError
	switch {
	case errors.As(err, &pe), errors.As(err, &le):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// instantQuery answers a metric query at one time (a vector), as Loki does; log queries are
// range queries only.
func (r *queryReceiver) instantQuery(ctx context.Context, req *http.Request) answer {
	iq, err := loghttp.ParseInstantQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, req.Form.Get("query"), err)
	}
	expr, err := syntax.ParseExpr(iq.Query)
	if err != nil {
		return fail(http.StatusBadRequest, iq.Query, err)
	}
	if _, ok := expr.(syntax.SampleExpr); !ok {
		return fail(http.StatusBadRequest, iq.Query, logqlmodel.ErrUnsupportedSyntaxForInstantQuery)
	}
	return r.metricQuery(ctx, archivequery.MetricQuery{Expr: iq.Query, Start: iq.Ts, End: iq.Ts})
}

// metricQuery answers a LogQL metric query as Loki does: a matrix for a range, a vector for an
// instant, with the archive's problems as warnings.
func (r *queryReceiver) metricQuery(ctx context.Context, mq archivequery.MetricQuery) answer {
	mq.MaxSeries, mq.MaxSeriesSetting = r.cfg.MaxQuerySeries, "archivequery max_query_series"
	mq.MaxPoints, mq.MaxPointsSetting = r.cfg.MaxPoints, "archivequery max_points"
	v, st, err := r.engine.RunMetric(ctx, mq)
	if err != nil {
		return fail(statusOf(err), mq.Expr, err)
	}
	result, err := marshal.NewResultValue(v)
	if err != nil {
		return fail(http.StatusInternalServerError, mq.Expr, err)
	}
	n := 0
	switch v := v.(type) {
	case promql.Matrix:
		n = len(v)
	case promql.Vector:
		n = len(v)
	}
	body := map[string]any{"status": "success", "data": map[string]any{
		"resultType": string(result.Type()), "result": result,
		"stats": map[string]any{"summary": map[string]any{
			"totalBytesProcessed": st.RawBytes, "totalLinesProcessed": st.Events,
		}},
	}}
	r.warnNotIntact(body, mq.Expr, st)
	return answer{code: http.StatusOK, body: body, query: mq.Expr, results: n, problems: len(st.Problems)}
}

func (r *queryReceiver) labelNames(_ context.Context, req *http.Request) answer {
	if _, err := loghttp.ParseLabelQuery(req); err != nil {
		return fail(http.StatusBadRequest, "labels", err)
	}
	return answer{code: http.StatusOK, body: map[string]any{"status": "success", "data": archivequery.LabelNames},
		query: "labels", results: len(archivequery.LabelNames)}
}

func (r *queryReceiver) labelValues(ctx context.Context, req *http.Request) answer {
	name := req.PathValue("name")
	lq, err := loghttp.ParseLabelQuery(mux.SetURLVars(req, map[string]string{"name": name}))
	what := "label " + name + " values"
	if err != nil {
		return fail(http.StatusBadRequest, what, err)
	}
	values := []string{}
	if known(name) {
		if values, err = r.engine.LabelValues(ctx, name, *lq.Start, *lq.End, maxSeries); err != nil {
			return fail(statusOf(err), what, err)
		}
	}
	return answer{code: http.StatusOK, body: map[string]any{"status": "success", "data": values}, query: what, results: len(values)}
}

func known(name string) bool {
	for _, n := range archivequery.LabelNames {
		if n == name {
			return true
		}
	}
	return false
}

func (r *queryReceiver) series(ctx context.Context, req *http.Request) answer {
	sq, err := loghttp.ParseSeriesQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, "series", err)
	}
	groups := sq.Groups
	if len(groups) == 0 {
		groups = []string{`{cluster=~".+"}`}
	}
	what := "series " + strings.Join(groups, " ")
	seen := map[uint64]labels.Labels{}
	var all archivequery.Stats
	for _, g := range groups {
		results, st, err := r.engine.Run(ctx, archivequery.Query{Expr: g, From: sq.Start, To: sq.End})
		if err != nil {
			return fail(statusOf(err), what, err)
		}
		all.Problems = append(all.Problems, st.Problems...)
		for _, res := range results {
			if len(seen) >= maxSeries {
				break
			}
			seen[res.Labels.Hash()] = res.Labels
		}
	}
	data := make([]map[string]string, 0, len(seen))
	for _, l := range seen {
		data = append(data, l.Map())
	}
	sort.Slice(data, func(i, j int) bool { return fmt.Sprint(data[i]) < fmt.Sprint(data[j]) })
	body := map[string]any{"status": "success", "data": data}
	r.warnNotIntact(body, what, all)
	return answer{code: http.StatusOK, body: body, query: what, results: len(data), problems: len(all.Problems)}
}
