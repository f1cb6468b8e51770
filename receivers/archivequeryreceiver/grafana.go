package archivequeryreceiver

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/grafana/loki/v3/pkg/util/marshal"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promql_parser "github.com/prometheus/prometheus/promql/parser"
)

// The endpoints Grafana's Loki data source calls besides queries: index stats (the query size
// shown before running), volumes (the logs volume panel and Logs Drilldown), detected labels and
// fields. Answers have Loki's shapes; values are computed by scanning the archive.

// matchersOf parses the selector of an index request; "{}" matches every stream, as in Loki.
func matchersOf(q string) ([]*labels.Matcher, error) {
	if q == "{}" || q == "" {
		return nil, nil
	}
	return syntax.ParseMatchers(q, true)
}

func (r *queryReceiver) indexStats(ctx context.Context, req *http.Request) answer {
	rq, err := loghttp.ParseIndexStatsQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, "index stats "+req.Form.Get("query"), err)
	}
	what := "index stats " + rq.Query
	ms, err := matchersOf(rq.Query)
	if err != nil {
		return fail(http.StatusBadRequest, what, err)
	}
	_, is, st, err := r.engine.Volumes(ctx, ms, rq.Start, rq.End, nil)
	if err != nil {
		return fail(statusOf(err), what, err)
	}
	body := map[string]any{"streams": is.Streams, "chunks": is.Chunks, "bytes": is.Bytes, "entries": is.Entries}
	r.warnNotIntact(body, what, st)
	return answer{code: http.StatusOK, body: body, query: what, results: int(is.Streams), problems: len(st.Problems)}
}

// volumeQuery is an /index/volume or /index/volume_range request.
type volumeQuery struct {
	query        string
	start, end   time.Time
	step         time.Duration // 0: one bucket, at end
	limit        int
	targetLabels []string
	bySeries     bool
}

func (r *queryReceiver) volume(ctx context.Context, req *http.Request) answer {
	vq, err := loghttp.ParseVolumeInstantQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, "volume "+req.Form.Get("query"), err)
	}
	return r.volumes(ctx, volumeQuery{query: vq.Query, start: vq.Start, end: vq.End, limit: int(vq.Limit),
		targetLabels: vq.TargetLabels, bySeries: vq.AggregateBy != "labels"})
}

func (r *queryReceiver) volumeRange(ctx context.Context, req *http.Request) answer {
	vq, err := loghttp.ParseVolumeRangeQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, "volume_range "+req.Form.Get("query"), err)
	}
	return r.volumes(ctx, volumeQuery{query: vq.Query, start: vq.Start, end: vq.End, step: vq.Step, limit: int(vq.Limit),
		targetLabels: vq.TargetLabels, bySeries: vq.AggregateBy != "labels"})
}

// volumes answers as Loki's volume endpoints: the bytes of the matching streams, grouped by the
// labels of the selector (or targetLabels), or per label name (aggregateBy=labels); at most limit
// groups per bucket, largest first. Buckets are step-aligned and stamped with their last
// millisecond (the last one with end), as Loki's; a vector for one bucket, a matrix for more.
func (r *queryReceiver) volumes(ctx context.Context, vq volumeQuery) answer {
	what := "volume " + vq.query
	ms, err := matchersOf(vq.query)
	if err != nil {
		return fail(http.StatusBadRequest, what, err)
	}
	keep := map[string]bool{}
	for _, m := range ms {
		keep[m.Name] = true
	}
	if len(vq.targetLabels) > 0 {
		keep = map[string]bool{}
		for _, t := range vq.targetLabels {
			keep[t] = true
			found := false
			for _, m := range ms {
				found = found || m.Name == t
			}
			if !found {
				ms = append(ms, labels.MustNewMatcher(labels.MatchRegexp, t, ".+"))
			}
		}
	}
	matchAny := len(ms) == 0
	var bucket func(time.Time) time.Time
	if vq.step > 0 {
		bucket = func(ts time.Time) time.Time {
			b := time.Unix(0, ts.UnixNano()-ts.UnixNano()%vq.step.Nanoseconds()).Add(vq.step)
			if !b.Before(vq.end) {
				return vq.end
			}
			return b.Add(-time.Millisecond)
		}
	}
	vols, _, st, err := r.engine.Volumes(ctx, ms, vq.start, vq.end, bucket)
	if err != nil {
		return fail(statusOf(err), what, err)
	}
	sums := map[int64]map[string]int64{} // bucket → group name → bytes
	metrics := map[string]labels.Labels{}
	for _, v := range vols {
		b := v.Bucket
		if bucket == nil {
			b = vq.end
		}
		bs := sums[b.UnixMilli()]
		if bs == nil {
			bs = map[string]int64{}
			sums[b.UnixMilli()] = bs
		}
		if vq.bySeries {
			lb := labels.NewScratchBuilder(0)
			v.Labels.Range(func(l labels.Label) {
				if matchAny || keep[l.Name] {
					lb.Add(l.Name, l.Value)
				}
			})
			m := lb.Labels()
			bs[m.String()] += v.Bytes
			metrics[m.String()] = m
			continue
		}
		v.Labels.Range(func(l labels.Label) {
			if len(vq.targetLabels) == 0 || keep[l.Name] {
				bs[l.Name] += v.Bytes
				metrics[l.Name] = labels.FromStrings(l.Name, "")
			}
		})
	}
	series := map[string]*promql.Series{}
	for t, bs := range sums {
		names := make([]string, 0, len(bs))
		for n := range bs {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			if bs[names[i]] != bs[names[j]] {
				return bs[names[i]] > bs[names[j]]
			}
			return names[i] < names[j]
		})
		if vq.limit > 0 && len(names) > vq.limit {
			names = names[:vq.limit]
		}
		for _, n := range names {
			s, ok := series[n]
			if !ok {
				s = &promql.Series{Metric: metrics[n]}
				series[n] = s
			}
			s.Floats = append(s.Floats, promql.FPoint{T: t, F: float64(bs[n])})
		}
	}
	ordered := make([]*promql.Series, 0, len(series))
	for _, s := range series {
		sort.Slice(s.Floats, func(i, j int) bool { return s.Floats[i].T < s.Floats[j].T })
		ordered = append(ordered, s)
	}
	sort.Slice(ordered, func(i, j int) bool {
		if ordered[i].Floats[0].F != ordered[j].Floats[0].F {
			return ordered[i].Floats[0].F > ordered[j].Floats[0].F
		}
		return ordered[i].Metric.String() < ordered[j].Metric.String()
	})
	var v promql_parser.Value
	if len(sums) <= 1 {
		vec := promql.Vector{}
		for _, s := range ordered {
			vec = append(vec, promql.Sample{Metric: s.Metric, T: s.Floats[0].T, F: s.Floats[0].F})
		}
		v = vec
	} else {
		m := promql.Matrix{}
		for _, s := range ordered {
			m = append(m, *s)
		}
		v = m
	}
	result, err := marshal.NewResultValue(v)
	if err != nil {
		return fail(http.StatusInternalServerError, what, err)
	}
	body := map[string]any{"status": "success", "data": map[string]any{"resultType": string(result.Type()), "result": result}}
	r.warnNotIntact(body, what, st)
	return answer{code: http.StatusOK, body: body, query: what, results: len(ordered), problems: len(st.Problems)}
}

// staticLabels are kept by detected_labels whatever their values, as Loki's.
var staticLabels = map[string]bool{"cluster": true, "namespace": true, "instance": true, "pod": true}

// detectedLabels answers as Loki's /detected_labels: the stream labels of the streams the query
// matches, with their number of values, without labels whose values are all numbers or UUIDs.
func (r *queryReceiver) detectedLabels(ctx context.Context, req *http.Request) answer {
	dq, err := loghttp.ParseDetectedLabelsQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, "detected labels", err)
	}
	what := "detected labels " + dq.Query
	ms, err := matchersOf(dq.Query)
	if err != nil {
		return fail(http.StatusBadRequest, what, err)
	}
	vols, _, st, err := r.engine.Volumes(ctx, ms, dq.Start, dq.End, nil)
	if err != nil {
		return fail(statusOf(err), what, err)
	}
	values := map[string]map[string]bool{}
	for _, v := range vols {
		v.Labels.Range(func(l labels.Label) {
			if values[l.Name] == nil {
				values[l.Name] = map[string]bool{}
			}
			values[l.Name][l.Value] = true
		})
	}
	type detected struct {
		Label       string `json:"label"`
		Cardinality uint64 `json:"cardinality"`
	}
	out := []detected{}
	for name, vs := range values {
		if !staticLabels[name] && allIDs(vs) {
			continue
		}
		out = append(out, detected{Label: name, Cardinality: uint64(len(vs))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	body := map[string]any{"detectedLabels": out}
	r.warnNotIntact(body, what, st)
	return answer{code: http.StatusOK, body: body, query: what, results: len(out), problems: len(st.Problems)}
}

// allIDs reports whether every value is a number or a UUID (booleans 0 and 1 alone are not).
func allIDs(vs map[string]bool) bool {
	if len(vs) <= 2 {
		onlyBool := true
		for v := range vs {
			onlyBool = onlyBool && (v == "0" || v == "1")
		}
		if onlyBool {
			return false
		}
	}
	for v := range vs {
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			continue
		}
		if _, err := uuid.Parse(v); err == nil {
			continue
		}
		return false
	}
	return true
}
