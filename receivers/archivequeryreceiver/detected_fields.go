package archivequeryreceiver

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/dustin/go-humanize"
	"github.com/grafana/loki/v3/pkg/loghttp"
	"github.com/grafana/loki/v3/pkg/logproto"
	logql_log "github.com/grafana/loki/v3/pkg/logql/log"
	"github.com/grafana/loki/v3/pkg/logqlmodel"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-obs/vigil/storage/archivequery"
)

// detectedField is what /detected_fields reports of one field.
type detectedField struct {
	sketch   *hyperloglog.Sketch
	typ      logproto.DetectedFieldType
	parsers  []string
	jsonPath []string
}

// detectedFields answers as Loki's /detected_fields: the fields that Loki's json (else logfmt)
// parser finds in the newest line_limit lines the query matches, with their type (of the last
// line), number of distinct values (HyperLogLog, as Loki), parser and JSON path; at most limit
// fields.
func (r *queryReceiver) detectedFields(ctx context.Context, req *http.Request) answer {
	dq, err := loghttp.ParseDetectedFieldsQuery(req)
	if err != nil {
		return fail(http.StatusBadRequest, "detected fields", err)
	}
	what := "detected fields " + dq.Query
	results, st, err := r.engine.Run(ctx, archivequery.Query{Expr: dq.Query, From: dq.Start, To: dq.End, Limit: int(dq.LineLimit)})
	if err != nil {
		return fail(statusOf(err), what, err)
	}
	fields := map[string]*detectedField{}
	for _, res := range results {
		lb := logql_log.NewBaseLabelsBuilder().ForLabels(res.Labels, labels.StableHash(res.Labels)) // per line, as Loki
		parser := "json"
		if _, ok := logql_log.NewJSONParser(true).Process(0, []byte(res.Line), lb); !ok || lb.HasErr() {
			lb.Reset()
			parser = "logfmt"
			if _, ok := logql_log.NewLogfmtParser(false, false).Process(0, []byte(res.Line), lb); !ok || lb.HasErr() {
				continue
			}
		}
		lb.LabelsResult().Parsed().Range(func(l labels.Label) {
			if l.Name == logqlmodel.ErrorLabel || l.Name == logqlmodel.ErrorDetailsLabel || l.Name == logqlmodel.PreserveErrorLabel {
				return
			}
			f, ok := fields[l.Name]
			if !ok {
				if uint32(len(fields)) >= dq.Limit {
					return
				}
				f = &detectedField{sketch: hyperloglog.New()}
				fields[l.Name] = f
			}
			if !slices.Contains(f.parsers, parser) {
				f.parsers = append(f.parsers, parser)
			}
			if parser == "json" {
				f.jsonPath = lb.GetJSONPath(l.Name)
			}
			f.typ = fieldType(l.Value)
			f.sketch.Insert([]byte(l.Value))
		})
	}
	resp := &logproto.DetectedFieldsResponse{}
	for name, f := range fields {
		resp.Fields = append(resp.Fields, &logproto.DetectedField{Label: name, Type: f.typ, Cardinality: f.sketch.Estimate(),
			Parsers: f.parsers, JsonPath: f.jsonPath})
	}
	sort.Slice(resp.Fields, func(i, j int) bool { return resp.Fields[i].Label < resp.Fields[j].Label })
	if len(resp.Fields) > 0 {
		resp.Limit = dq.Limit
	}
	body := map[string]any{"fields": resp.Fields, "limit": resp.Limit}
	r.warnNotIntact(body, what, st)
	return answer{code: http.StatusOK, body: body, query: what, results: len(resp.Fields), problems: len(st.Problems)}
}

// fieldType is Loki's guess of a value's type.
func fieldType(v string) logproto.DetectedFieldType {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return logproto.DetectedFieldInt
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return logproto.DetectedFieldFloat
	}
	if _, err := strconv.ParseBool(v); err == nil {
		return logproto.DetectedFieldBoolean
	}
	if _, err := time.ParseDuration(v); err == nil {
		return logproto.DetectedFieldDuration
	}
	if _, err := humanize.ParseBytes(v); err == nil {
		return logproto.DetectedFieldBytes
	}
	return logproto.DetectedFieldString
}
