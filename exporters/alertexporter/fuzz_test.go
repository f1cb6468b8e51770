package alertexporter

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-obs/vigil/storage/series"
)

// FuzzConvert: any OTLP metrics payload converts without panicking, every emitted sample has a
// metric name and valid, sorted, unique labels, and appending it to a store never panics.
func FuzzConvert(f *testing.F) {
	for _, md := range []pmetric.Metrics{batch(time.Unix(1_700_000_000, 0)), lag("db-1", 45, time.Unix(1_700_000_000, 0))} {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(data)
		if err != nil {
			return
		}
		store, err := series.NewStore(series.Options{MaxSeries: 100, Needs: []series.Need{{
			Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")}, Window: time.Hour}}})
		if err != nil {
			t.Fatal(err)
		}
		app := store.NewAppender()
		c := newConverter([]string{"k8s.cluster.name"})
		c.discard = func(string, int) {}
		c.emit = func(l labels.Labels, ts int64, v float64) {
			if l.Get("__name__") == "" {
				t.Fatalf("sample without a name: %s", l)
			}
			if _, dup := l.HasDuplicateLabelNames(); dup {
				t.Fatalf("duplicate label names: %s", l)
			}
			prev := ""
			l.Range(func(lb labels.Label) {
				if lb.Name <= prev && prev != "" {
					t.Fatalf("labels not sorted: %s", l)
				}
				prev = lb.Name
			})
			_, _ = app.Append(0, l, ts, v)
		}
		c.convert(md)
	})
}
