package fluentk8sprocessor

import (
	"context"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-obs/vigil/internal/fluentk8s"
)

const attrCluster = "k8s.cluster.name"

type fluentProcessor struct {
	cluster string
	mapper  *fluentk8s.Mapper
}

// group is one output resource and scope: the records of one input resource and scope that name
// the same container.
type group struct {
	rl plog.ResourceLogs
	sl plog.ScopeLogs
}

// processLogs maps each record's fields and regroups the records by the identity found.
func (p *fluentProcessor) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	out := plog.NewLogs()
	groups := map[string]group{}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		in := ld.ResourceLogs().At(i)
		for j := 0; j < in.ScopeLogs().Len(); j++ {
			sl := in.ScopeLogs().At(j)
			prefix := strconv.Itoa(i) + "/" + strconv.Itoa(j) + "/"
			for k := 0; k < sl.LogRecords().Len(); k++ {
				lr := sl.LogRecords().At(k)
				fields := lr.Attributes().AsRaw()
				if _, ok := fields["log"]; !ok && lr.Body().Type() != pcommon.ValueTypeEmpty {
					fields["log"] = lr.Body().AsRaw()
				}
				rec, _ := p.mapper.Map(fields) // a map always maps
				key := prefix + rec.Key()
				g, ok := groups[key]
				if !ok {
					g.rl = out.ResourceLogs().AppendEmpty()
					in.Resource().CopyTo(g.rl.Resource())
					g.rl.SetSchemaUrl(in.SchemaUrl())
					rec.PutResource(g.rl.Resource().Attributes())
					if p.cluster != "" {
						g.rl.Resource().Attributes().PutStr(attrCluster, p.cluster)
					}
					g.sl = g.rl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(g.sl.Scope())
					g.sl.SetSchemaUrl(sl.SchemaUrl())
					groups[key] = g
				}
				dst := g.sl.LogRecords().AppendEmpty()
				lr.MoveTo(dst)
				dst.Attributes().Clear()
				pcommon.NewValueEmpty().CopyTo(dst.Body()) // the record's body, if any, is set again below
				rec.Fill(dst)
			}
		}
	}
	return out, nil
}
