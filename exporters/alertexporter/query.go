package alertexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigil-obs/vigil/internal/rulefiles"
)

// The query API answers Prometheus's /api/v1/query, /api/v1/query_range, /api/v1/labels and
// /api/v1/label/{name}/values over the series store, so that a Grafana Prometheus data source
// pointed at the API port passes its test and can chart what the rules see. The store holds only
// the series and the window that the loaded rules need: anything else is absent, as it would be
// from a Prometheus that never scraped it.

// maxQueryPoints bounds the steps of a range query, as Prometheus does (11,000).
const maxQueryPoints = 11000

type apiError struct {
	code int
	kind string // Prometheus's errorType: bad_data, execution, timeout, canceled
	err  error
}

func badData(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "bad_data", fmt.Errorf(format, args...)}
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": e.kind, "error": e.err.Error()})
}

func (e *alertExporter) queryable() storage.Queryable {
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) { return e.store.Querier(mint, maxt) })
}

// parseAPITime reads a Prometheus API time: RFC 3339 or Unix seconds (with a fraction).
func parseAPITime(name, v string, def time.Time) (time.Time, *apiError) {
	if v == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		s, ns := math.Modf(f)
		return time.Unix(int64(s), int64(math.Round(ns*1e9))).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badData("%s: %q is neither RFC 3339 nor Unix seconds", name, v)
	}
	return t, nil
}

// parseStep reads a step: a duration (15s, 1m) or seconds (15, 0.5).
func parseStep(v string) (time.Duration, *apiError) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, badData("step: %q must be a positive duration", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badData("step: %q must be a positive duration, e.g. 15s", v)
	}
	return d, nil
}

// formQuery parses the request's form and returns its query parameter.
func formQuery(r *http.Request) (string, *apiError) {
	if err := r.ParseForm(); err != nil {
		return "", badData("cannot parse the request: %v", err)
	}
	q := r.Form.Get("query")
	if q == "" {
		return "", badData("query: must be set")
	}
	return q, nil
}

func (e *alertExporter) serveQuery(w http.ResponseWriter, r *http.Request) {
	q, aerr := formQuery(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	ts, aerr := parseAPITime("time", r.Form.Get("time"), time.Now())
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	query, err := e.engine.NewInstantQuery(r.Context(), e.queryable(), nil, q, ts)
	e.answer(w, r, query, err)
}

func (e *alertExporter) serveQueryRange(w http.ResponseWriter, r *http.Request) {
	q, aerr := formQuery(r)
	var start time.Time
	if aerr == nil {
		start, aerr = parseAPITime("start", r.Form.Get("start"), time.Time{})
	}
	if aerr == nil && start.IsZero() {
		aerr = badData("start: must be set")
	}
	var end time.Time
	if aerr == nil {
		end, aerr = parseAPITime("end", r.Form.Get("end"), time.Time{})
		if aerr == nil && end.IsZero() {
			aerr = badData("end: must be set")
		}
	}
	var step time.Duration
	if aerr == nil {
		step, aerr = parseStep(r.Form.Get("step"))
	}
	if aerr == nil && end.Before(start) {
		aerr = badData("end: %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	if aerr == nil && end.Sub(start)/step >= maxQueryPoints {
		aerr = badData("step: %s over %s gives more than %d points; use a larger step", step, end.Sub(start), maxQueryPoints)
	}
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	query, err := e.engine.NewRangeQuery(r.Context(), e.queryable(), nil, q, start, end, step)
	e.answer(w, r, query, err)
}

func (e *alertExporter) answer(w http.ResponseWriter, r *http.Request, query promql.Query, err error) {
	if err != nil {
		writeAPIError(w, badData("%v", err))
		return
	}
	defer query.Close()
	res := query.Exec(r.Context())
	if res.Err != nil {
		var (
			code, kind = http.StatusUnprocessableEntity, "execution"
			timeout    promql.ErrQueryTimeout
			canceled   promql.ErrQueryCanceled
		)
		switch {
		case errors.As(res.Err, &timeout):
			code, kind = http.StatusServiceUnavailable, "timeout"
		case errors.As(res.Err, &canceled), errors.Is(res.Err, context.Canceled):
			code, kind = http.StatusServiceUnavailable, "canceled"
		}
		writeAPIError(w, &apiError{code, kind, res.Err})
		return
	}
	writeAPI(w, map[string]any{"resultType": res.Value.Type(), "result": res.Value})
}

// matchersOf reads the match[] selectors of a labels request.
func matchersOf(r *http.Request) ([][]*labels.Matcher, *apiError) {
	var sets [][]*labels.Matcher
	for _, s := range r.Form["match[]"] {
		ms, err := rulefiles.Parser.ParseMetricSelector(s)
		if err != nil {
			return nil, badData("match[]: %q: %v", s, err)
		}
		sets = append(sets, ms)
	}
	return sets, nil
}

// serveLabels answers /api/v1/labels (name == "") and /api/v1/label/{name}/values.
func (e *alertExporter) serveLabels(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeAPIError(w, badData("cannot parse the request: %v", err))
		return
	}
	sets, aerr := matchersOf(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	q, err := e.store.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		writeAPIError(w, &apiError{http.StatusInternalServerError, "internal", err})
		return
	}
	defer q.Close()
	name := r.PathValue("name")
	out := []string{}
	for _, ms := range sets {
		var vals []string
		if name == "" {
			vals, _, err = q.LabelNames(r.Context(), nil, ms...)
		} else {
			vals, _, err = q.LabelValues(r.Context(), name, nil, ms...)
		}
		if err != nil {
			writeAPIError(w, &apiError{http.StatusUnprocessableEntity, "execution", err})
			return
		}
		out = append(out, vals...)
	}
	slices.Sort(out)
	writeAPI(w, slices.Compact(out))
}
