package archivequery

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/v3/pkg/logql/log"
	"github.com/grafana/loki/v3/pkg/logql/syntax"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

// jsonFilterQueries are label filters after `| json` that the raw-line JSON prefilter judges
// in full, in part or not at all.
var jsonFilterQueries = []string{
	`{cluster="a"} | json | responseStatus_code >= 600`,
	`{cluster="a"} | json | responseStatus_code > 399`,
	`{cluster="a"} | json | responseStatus_code < 200`,
	`{cluster="a"} | json | responseStatus_code <= 200`,
	`{cluster="a"} | json | responseStatus_code == 600`,
	`{cluster="a"} | json | responseStatus_code != 200`,
	`{cluster="a"} | json | responseStatus_code >= 400 and verb="delete"`,
	`{cluster="a"} | json | responseStatus_code >= 500 or responseStatus_code < 200`,
	`{cluster="a"} | json | responseStatus_code >= 600 or user_username="alice"`,
	`{cluster="a"} | json | responseStatus_code >= 600 or verb="get"`,
	`{cluster="a"} | json | responseStatus_code >= 600 and responseStatus_code != 601`,
	`{cluster="a"} | json | responseStatus_code >= 600 | objectRef_namespace="kube-system"`,
	`{cluster="a"} | json | responseStatus_code >= 600 or __error__!=""`,
	`{cluster="a"} | json | responseStatus_code = ip("10.0.0.1") or responseStatus_code > 600`,
	`{cluster="a"} |= "responseStatus" | json | responseStatus_code >= 600`,
	`{cluster="a"} | json | responseStatus_code >= 600 | line_format "{{.verb}}" | responseStatus_code < 700`,
	`{cluster="a"} | json | code >= 600`,
	`{cluster="a"} | json | _1_code >= 600`,
	`{cluster="a"} | json | _code >= 600`,
	`{cluster="a"} | json | _1 >= 600`,
	`{cluster="a"} | json | response_Status_code >= 600`,
	`{cluster="a"} | json | responseStat_s_code >= 600`,
	`{cluster="a"} | json | cluster_extracted >= 600`,
	`{cluster="a"} | json | verb_extracted = "get"`,
	`{cluster="a"} | json | user_username = "alice"`,
	`{cluster="a"} | json | user_username != "alice"`,
	`{cluster="a"} | json | user_username = "ali ce"`,
	`{cluster="a"} | json | responseStatus_code >= 600 or user_username = "ali ce"`,
	`{cluster="a"} | json | user_username =~ "person-.*"`,
	`{cluster="a"} | json | user_username !~ "system:.*"`,
	`{cluster="a"} | json | latency > 1s`,
	`{cluster="a"} | json | latency <= 250ms`,
	`{cluster="a"} | json | size > 1KB`,
	`{cluster="a"} | json | size == 2KiB`,
	`{cluster="a"} | json | level = "Request" and responseStatus_code >= 300`,
	`{cluster="a"} | json | responseStatus_code >= 600 | responseStatus_code < 100`,
}

// adversarialLines are events built to trip a raw-line reading of `| json`.
var adversarialLines = []string{
	`{"responseStatus":{"code":600}}`,
	`{"responseStatus":{"code":599}}`,
	`{"responseStatus":{"code":"600"}}`,
	`{"responseStatus":{"code":"abc"}}`,
	`{"responseStatus":{"code":" 600"}}`,
	`{"responseStatus":{"code":"6\u0030\u0030"}}`,
	`{"responseStatus":{"code":"NaN"}}`,
	`{"responseStatus":{"code":"+Inf"}}`,
	`{"responseStatus":{"code":"0x1p10"}}`,
	`{"responseStatus":{"code":"６００"}}`,
	`{"responseStatus":{"code":"600\u0000"}}`,
	`{"responseStatus":{"code":{"x":1}}}`,
	`{"responseStatus":{"code":[600]}}`,
	`{"responseStatus":{"code":null}}`,
	`{"responseStatus":{"code":true}}`,
	`{"responseStatus":{}}`,
	`{}`,
	`{"response\u0053tatus":{"code":600}}`,
	`{"responseStatus":{"c\u006fde":600}}`,
	`{"responseStatus":{"code":200},"responseStatus":{"code":600}}`,
	`{"responseStatus":{"code":600},"responseStatus":{"code":200}}`,
	`{"responseStatus":{"code":600,"code":200}}`,
	`{"responseStatus":{"code":200,"code":600}}`,
	`{"responseStatus_code":600}`,
	`{"responseStatus":{"code":200},"responseStatus_code":600}`,
	`{"responseStatus.code":600}`,
	`{"responseStatus-code":600}`,
	`{"responseStatus":{"code":6e2}}`,
	`{"responseStatus":{"code":6E+2}}`,
	`{"responseStatus":{"code":-0}}`,
	`{"responseStatus":{"code":-600}}`,
	`{"responseStatus":{"code":1e400}}`,
	`{"responseStatus":{"code":-1e400}}`,
	`{"responseStatus":{"code":123456789012345678901234567890}}`,
	`{"responseStatus":{"code":600.0000000000001}}`,
	`{"responseStatus":{"code":599.99999999999999999}}`,
	`{"responseStatus":{"code":0x258}}`,
	`{"responseStatus":{"code":+600}}`,
	`{"responseStatus":{"code":0600}}`,
	`{"responseStatus":{"code":600.}}`,
	`{"responseStatus":{"code":tru}}`,
	`{"responseStatus":{"code":truex}}`,
	`{"responseStatus":{"code":nul}}`,
	`{"responseStatus":{"code":600 }}`,
	"{\"responseStatus\" :\t{ \"code\" :\n600 } }  ",
	`  {"responseStatus":{"code":600}}`,
	`{"responseStatus":{"code":600}} trailing`,
	`{"responseStatus":{"code":600}}}`,
	`{"responseStatus":{"code":600}`,
	`{"responseStatus":{"code":600},"x":}`,
	`{"x":"unterminated, "responseStatus":{"code":600}}`,
	`{"a":1,"responseStatus":{"code":600},}`,
	`{"a" 1,"responseStatus":{"code":600}}`,
	`not json at all`,
	`[{"responseStatus":{"code":600}}]`,
	`"string"`,
	``,
	`{"responseStatus ":{" code":600}}`,
	`{"response Status":{"code":600}}`,
	`{"responseStatus":{"":{"code":600}}}`,
	`{"":{"responseStatus":{"code":600}}}`,
	`{" ":{"responseStatus_code":600}}`,
	`{"responseStatüs":{"code":600}}`,
	"{\"responseStat\xffs\":{\"code\":600}}",
	"{\"responseStatus\":{\"code\":\"6\xff00\"}}",
	`{"1":{"code":600}}`,
	`{"-code":600}`,
	`{"1":600}`,
	`{"1 ":{" code":600}}`,
	`{"code":600}`,
	`{"cluster":600}`,
	`{"cluster":{"extracted":600}}`,
	`{"cluster_extracted":600}`,
	`{"verb":"get","verb_extracted":"x"}`,
	`{"verb":"get"}`,
	`{"verb":"delete","responseStatus":{"code":600}}`,
	`{"verb":"delete","responseStatus":{"code":404}}`,
	`{"user":{"username":"alice"},"responseStatus":{"code":200}}`,
	`{"user":{"username":"ali\u0063e"},"responseStatus":{"code":200}}`,
	`{"a":{"b\uZZZZ":1},"user":{"username":"alice"},"responseStatus":{"code":200}}`,
	`{"b\uZZZZ":1,"user":{"username":"alice"},"responseStatus":{"code":200}}`,
	`{"a":[{"b\uZZZZ":1}],"user":{"username":"alice"},"responseStatus":{"code":200}}`,
	`{"user":{"username":"person-1"},"responseStatus":{"code":200}}`,
	"{\"user\":{\"username\":\"ali\xffce\"},\"responseStatus\":{\"code\":200}}",
	"{\"user\":{\"username\":\"ali\ufffdce\"},\"responseStatus\":{\"code\":200}}",
	`{"user":{"username":"ali\ufffdce"},"responseStatus":{"code":200}}`,
	`{"responseStatus":{"code":600},"__error__":"x"}`,
	`{"responseStatus":{"code":600,"x":"\"}"}}`,
	`{"a":"\\","responseStatus":{"code":600}}`,
	`{"a":"\\\"","responseStatus":{"code":600}}`,
	`{"a":"\\\\\"},\"responseStatus\":{\"code\":600}","b":1}`,
	"{\"a\":\"raw\tcontrol\x01\",\"responseStatus\":{\"code\":600}}",
	`{"arr":[1,"x",{"responseStatus":{"code":600}},[[]],null,true],"responseStatus":{"code":200}}`,
	`{"arr":[{"responseStatus_code":600}]}`,
	`{"latency":"1.5s"}`,
	`{"latency":"1500ms"}`,
	`{"latency":"200ms"}`,
	`{"latency":1}`,
	`{"latency":"1h"}`,
	`{"size":"2KB"}`,
	`{"size":"2 KB"}`,
	`{"size":"2KiB"}`,
	`{"size":2048}`,
	`{"size":"500"}`,
	`{"level":"Request","responseStatus":{"code":301}}`,
	`{"level":"Request","responseStatus":{"code":201}}`,
	`{"objectRef":{"namespace":"kube-system"},"responseStatus":{"code":601}}`,
	`{"objectRef":{"namespace":"kube-system"},"responseStatus":{"code":650}}`,
	`{"responseStatus":{"code":650},"stageTimestamp":"2026-11-22T10:00:01Z","verb":"get"}`,
	strings.Repeat(`{"a":`, 100) + `{"responseStatus":{"code":600}}` + strings.Repeat(`}`, 100),
	`{"deep":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `,"responseStatus":{"code":600}}`,
}

// auditLines are real audit event shapes: the receiver's test events, the generator's and the
// archive tests' events, and the adversarial lines.
func auditLines(t testing.TB) [][]byte {
	t.Helper()
	var lines [][]byte
	b, err := os.ReadFile(filepath.Join("..", "..", "receivers", "k8sauditreceiver", "testdata", "eventlist.json"))
	require.NoError(t, err)
	var list struct{ Items []json.RawMessage }
	require.NoError(t, json.Unmarshal(b, &list))
	require.NotEmpty(t, list.Items)
	for _, it := range list.Items {
		var c bytes.Buffer
		require.NoError(t, json.Compact(&c, it))
		lines = append(lines, c.Bytes(), []byte(it))
	}
	lines = append(lines, audittest.RealisticEvents(300)...)
	g := audittest.NewGenerator(audittest.T0, 20, 3)
	for range 300 {
		lines = append(lines, g.Next())
	}
	for _, e := range audittest.Events([]string{"a"}, 40) {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		lines = append(lines, b)
	}
	for _, l := range adversarialLines {
		lines = append(lines, []byte(l))
	}
	return lines
}

// lokiPipeline is Loki's pipeline for query.
func lokiPipeline(t testing.TB, query string) log.Pipeline {
	t.Helper()
	sel, err := Parse(query)
	require.NoError(t, err)
	p, err := sel.Pipeline()
	require.NoError(t, err)
	return p
}

// lokiKeeps reports whether Loki's pipeline p keeps line, with the stream labels the archive
// query derives for it.
func lokiKeeps(p log.Pipeline, line []byte) bool {
	lbls, _ := parseEvent(archive.Stream{Tenant: "default", Cluster: "a"}, line, audittest.T0)
	_, _, ok := p.ForStream(lbls).Process(0, line, labels.EmptyLabels())
	return ok
}

// TestJSONFilterNeverDropsAMatch: for every query and every line, a line Loki's pipeline keeps
// passes the prefilter; and the prefilter does reject lines on the plain numeric query.
func TestJSONFilterNeverDropsAMatch(t *testing.T) {
	lines := auditLines(t)
	rejected := map[string]int{}
	for _, q := range jsonFilterQueries {
		sel, err := Parse(q)
		require.NoError(t, err)
		p := lokiPipeline(t, q)
		for _, line := range lines {
			pf, err := newPrefilter(sel) // a new one for each line: it may switch itself off
			require.NoError(t, err)
			passes := pf.passes(line)
			if lokiKeeps(p, line) {
				require.True(t, passes, "the prefilter drops a line Loki keeps\nquery: %s\nline:  %s", q, line)
			}
			if !passes {
				rejected[q]++
			}
		}
	}
	// The generated and receiver events all answer 200 or less: none can pass >= 600.
	require.Greater(t, rejected[jsonFilterQueries[0]], 600, "the numeric prefilter rejects the plain audit events")
	require.Greater(t, rejected[`{cluster="a"} | json | latency > 1s`], 600)
	require.Zero(t, rejected[`{cluster="a"} | json | responseStatus_code >= 600 or verb="get"`], "a condition on a stream label is not judged")
}

// TestJSONFilterAnswersAsLoki: through the engine, each query returns exactly the lines that
// Loki's pipeline keeps, run on every line without any prefilter.
func TestJSONFilterAnswersAsLoki(t *testing.T) {
	lines := auditLines(t)
	for i, l := range lines { // one event per line, as archived
		lines[i] = bytes.ReplaceAll(l, []byte("\n"), []byte(" "))
	}
	bkt, err := archive.NewFilesystemBucket(t.TempDir())
	require.NoError(t, err)
	t0 := audittest.T0.Add(-time.Hour)
	_, err = archive.Append(context.Background(), bkt, archive.Stream{Tenant: "default", Cluster: "a"}, nil, t0, t0.Add(48*time.Hour), lines)
	require.NoError(t, err)
	eng := &Engine{Bucket: bkt, Workers: 1}
	for _, q := range jsonFilterQueries {
		var want []string
		p := lokiPipeline(t, q)
		for _, l := range lines {
			if lokiKeeps(p, l) {
				want = append(want, string(l))
			}
		}
		rs, _, err := eng.Run(context.Background(), Query{Expr: q})
		require.NoError(t, err, q)
		var got []string
		for _, r := range rs {
			got = append(got, string(r.Raw))
		}
		sort.Strings(want)
		sort.Strings(got)
		require.Equal(t, want, got, q)
	}
}

// FuzzJSONFilter: the prefilter never drops a line Loki's pipeline keeps, and never panics.
func FuzzJSONFilter(f *testing.F) {
	for i, l := range adversarialLines {
		f.Add([]byte(l), uint8(i))
	}
	for i, l := range audittest.RealisticEvents(8) {
		f.Add(l, uint8(i))
	}
	type compiled struct {
		sel   syntax.LogSelectorExpr
		loki  log.Pipeline
		query string
	}
	var qs []compiled
	for _, q := range jsonFilterQueries {
		sel, err := Parse(q)
		require.NoError(f, err)
		qs = append(qs, compiled{sel, lokiPipeline(f, q), q})
	}
	f.Fuzz(func(t *testing.T, line []byte, qi uint8) {
		c := qs[int(qi)%len(qs)]
		pf, err := newPrefilter(c.sel) // a new one for each line: it may switch itself off
		require.NoError(t, err)
		if lokiKeeps(c.loki, line) && !pf.passes(line) {
			t.Fatalf("the prefilter drops a line Loki keeps\nquery: %s\nline:  %q", c.query, line)
		}
	})
}

// TestJSONFilterStepsAside: a filter that rejects few lines switches itself off after its trial
// (then every line passes to Loki's parser); one that rejects most lines stays on.
func TestJSONFilterStepsAside(t *testing.T) {
	lines := audittest.RealisticEvents(2 * jsonFilterTrial) // all answered 200
	for _, tc := range []struct {
		query string
		off   bool
	}{
		{`{cluster="a"} | json | responseStatus_code == 200`, true},
		{`{cluster="a"} | json | responseStatus_code >= 600`, false},
	} {
		sel, err := Parse(tc.query)
		require.NoError(t, err)
		pf, err := newPrefilter(sel)
		require.NoError(t, err)
		require.NotNil(t, pf.json, tc.query)
		passed := 0
		for _, l := range lines {
			if pf.passes(l) {
				passed++
			}
		}
		require.Equal(t, tc.off, pf.json.off, tc.query)
		if tc.off {
			require.Equal(t, len(lines), passed, tc.query)
		} else {
			require.Zero(t, passed, tc.query)
		}
	}
}

// TestAppendLabelPart: flattened names are those Loki's `| json` gives the same nested keys.
func TestAppendLabelPart(t *testing.T) {
	for _, parts := range [][]string{
		{"responseStatus", "code"}, {"1", "code"}, {"a", "1"}, {" ", "", "code"}, {"authorization.k8s.io/decision"},
		{"réponse", "x"}, {"a\xffb"}, {" x ", "\u00a0y"}, {"9"}, {"a-b", "c d", "e"}, {"\u2028", "z"},
	} {
		line := ""
		for _, p := range parts {
			line += `{"` + p + `":`
		}
		line += "1" + strings.Repeat("}", len(parts))
		lb := log.NewBaseLabelsBuilder().ForLabels(labels.EmptyLabels(), 0)
		_, ok := log.NewJSONParser(false).Process(0, []byte(line), lb)
		require.True(t, ok)
		parsed := lb.LabelsResult().Parsed()
		require.Equal(t, 1, parsed.Len(), line)
		var name []byte
		for _, p := range parts {
			name = appendLabelPart(name, []byte(p))
		}
		parsed.Range(func(l labels.Label) { require.Equal(t, l.Name, string(name), line) })
	}
}
