package archivequery

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/vigil-obs/vigil/internal/audittest"
	"github.com/vigil-obs/vigil/storage/archive"
)

func newArchive(t testing.TB, clusters []string, n, per int) (objstore.Bucket, []audittest.Event, string) {
	t.Helper()
	dir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	events := audittest.Events(clusters, n)
	audittest.WriteArchive(t, bkt, events, per)
	return bkt, events, dir
}

// ids returns the auditIDs of results, in their order.
func ids(t *testing.T, rs []Result) []string {
	t.Helper()
	out := make([]string, len(rs))
	for i, r := range rs {
		var e audittest.Event
		require.NoError(t, json.Unmarshal(r.Raw, &e))
		out[i] = e.AuditID
	}
	return out
}

// want selects the expected events, newest first.
func want(events []audittest.Event, keep func(audittest.Event) bool) []string {
	var sel []audittest.Event
	for _, e := range events {
		if keep(e) {
			sel = append(sel, e)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].StageTime.After(sel[j].StageTime) })
	out := make([]string, len(sel))
	for i, e := range sel {
		out[i] = e.AuditID
	}
	return out
}

func TestQueryMatchesWhatWasWritten(t *testing.T) {
	bkt, events, _ := newArchive(t, []string{"prod-eu", "prod-us", "staging"}, 400, 50)
	eng := &Engine{Bucket: bkt, Workers: 3}
	ctx := context.Background()
	tests := []struct {
		name  string
		query string
		keep  func(audittest.Event) bool
	}{
		{"selector on cluster and user", `{cluster="prod-eu", user="alice"}`,
			func(e audittest.Event) bool { return e.Cluster == "prod-eu" && e.User.Username == "alice" }},
		{"regexp and negative matchers", `{cluster=~"prod-.*", verb!="watch", resource="secrets"}`,
			func(e audittest.Event) bool {
				return e.Cluster != "staging" && e.Verb != "watch" && e.ObjectRef.Resource == "secrets"
			}},
		{"namespace and line filter", `{namespace="payments"} |= "obj-17"`,
			func(e audittest.Event) bool {
				return e.ObjectRef.Namespace == "payments" && strings.HasPrefix(e.ObjectRef.Name, "obj-17")
			}},
		{"json and label filter", `{cluster="staging"} | json | responseStatus_code >= 400 and verb="delete"`,
			func(e audittest.Event) bool {
				return e.Cluster == "staging" && e.Status.Code >= 400 && e.Verb == "delete"
			}},
		{"negative line filter", `{user="bob"} != "prod-"`,
			func(e audittest.Event) bool { return e.User.Username == "bob" && e.Cluster == "staging" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, _, err := eng.Run(ctx, Query{Expr: tc.query})
			require.NoError(t, err)
			exp := want(events, tc.keep)
			require.NotEmpty(t, exp, "the test data must hold matches")
			require.Equal(t, exp, ids(t, rs))
		})
	}
}

func TestQueryTimeRangeLimitAndDirection(t *testing.T) {
	bkt, events, _ := newArchive(t, []string{"a", "b"}, 600, 40)
	eng := &Engine{Bucket: bkt, Workers: 2}
	ctx := context.Background()
	from, to := audittest.T0.Add(time.Hour), audittest.T0.Add(2*time.Hour)
	inRange := func(e audittest.Event) bool { return !e.StageTime.Before(from) && e.StageTime.Before(to) }

	rs, st, err := eng.Run(ctx, Query{Expr: `{cluster=~".+"}`, From: from, To: to})
	require.NoError(t, err)
	require.Equal(t, want(events, inRange), ids(t, rs))
	require.Less(t, st.Objects, 2*600/40, "objects outside the range are not opened")
	require.Positive(t, st.ObjectsSkipped)

	rs, st, err = eng.Run(ctx, Query{Expr: `{cluster=~".+"}`, From: from, To: to, Limit: 7})
	require.NoError(t, err)
	require.Equal(t, want(events, inRange)[:7], ids(t, rs), "backward: the newest in range")
	require.LessOrEqual(t, st.Objects, 4, "a limited query stops early")

	rs, _, err = eng.Run(ctx, Query{Expr: `{cluster="b"}`, Limit: 5, Forward: true})
	require.NoError(t, err)
	require.Equal(t, []string{"b-00000", "b-00001", "b-00002", "b-00003", "b-00004"}, ids(t, rs))
}

func TestQueryLineFormat(t *testing.T) {
	bkt, _, _ := newArchive(t, []string{"a"}, 20, 10)
	rs, _, err := (&Engine{Bucket: bkt}).Run(context.Background(), Query{
		Expr: `{cluster="a", user="alice"} | json | line_format "{{.verb}} {{.objectRef_resource}}/{{.objectRef_name}} by {{.user_username}}"`, Forward: true, Limit: 3})
	require.NoError(t, err)
	require.Len(t, rs, 3)
	require.Equal(t, []string{"get pods/obj-0 by alice", "list secrets/obj-1 by alice", "create configmaps/obj-2 by alice"},
		[]string{rs[0].Line, rs[1].Line, rs[2].Line})
	require.Equal(t, "pods", rs[0].Parsed.Get("objectRef_resource"))
}

func TestQuerySyntaxErrorNamesThePosition(t *testing.T) {
	_, _, err := (&Engine{}).Run(context.Background(), Query{Expr: `{cluster="a" |= "x"`})
	var pe ParseError
	require.ErrorAs(t, err, &pe)
	require.Regexp(t, `line \d+, col 14`, err.Error())
}

func TestQuerySkipsAndReportsATamperedObject(t *testing.T) {
	bkt, events, dir := newArchive(t, []string{"a"}, 100, 25)
	entries, err := archive.Manifest(context.Background(), bkt, archive.Stream{Tenant: "default", Cluster: "a"})
	require.NoError(t, err)
	require.Len(t, entries, 4)
	path := filepath.Join(dir, entries[1].Object)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(path, b, 0o600))

	rs, st, err := (&Engine{Bucket: bkt}).Run(context.Background(), Query{Expr: `{cluster="a"}`})
	require.NoError(t, err)
	require.Len(t, rs, len(events)-25, "the tampered object's events are not returned as if they were intact")
	require.Len(t, st.Problems, 1)
	require.Equal(t, archive.ProblemModified, st.Problems[0].Kind)
	require.Equal(t, entries[1].Object, st.Problems[0].Object)
}

func TestIndexOpensOnlyObjectsThatCanMatch(t *testing.T) {
	dir := t.TempDir()
	bkt, err := archive.NewFilesystemBucket(dir)
	require.NoError(t, err)
	events := audittest.Events([]string{"a"}, 400)
	for i := range events {
		events[i].User.Username += fmt.Sprintf("-%d", i/50) // 8 objects, each with its own users
	}
	for i := 130; i < 136; i++ {
		events[i].User.Username = "dave"
	}
	audittest.WriteArchive(t, bkt, events, 50)
	eng := &Engine{Bucket: bkt}
	ctx := context.Background()

	rs, st, err := eng.Run(ctx, Query{Expr: `{user="dave"}`})
	require.NoError(t, err)
	require.Equal(t, want(events, func(e audittest.Event) bool { return e.User.Username == "dave" }), ids(t, rs))
	require.Equal(t, 1, st.Objects, "only the object holding dave is opened")
	require.Equal(t, 7, st.ObjectsSkipped)

	rs, st, err = eng.Run(ctx, Query{Expr: `{user=~"dave|alice-7"}`})
	require.NoError(t, err)
	require.Len(t, rs, 6+len(want(events, func(e audittest.Event) bool { return e.User.Username == "alice-7" })))
	require.Equal(t, 2, st.Objects)

	rs, st, err = eng.Run(ctx, Query{Expr: `{user!="dave", namespace="shop"}`})
	require.NoError(t, err)
	require.Equal(t, want(events, func(e audittest.Event) bool { return e.User.Username != "dave" && e.ObjectRef.Namespace == "shop" }), ids(t, rs))
	require.Equal(t, 8, st.Objects, "a negative matcher cannot prune")

	// A damaged index never hides events: the object is scanned, and the damage reported.
	entries, err := archive.Manifest(ctx, bkt, archive.Stream{Tenant: "default", Cluster: "a"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, entries[2].Index), []byte(`{"version":1,"labels":{"user":[]},"bloom":null}`), 0o600))
	rs, st, err = eng.Run(ctx, Query{Expr: `{user="dave"}`})
	require.NoError(t, err)
	require.Len(t, rs, 6)
	require.Equal(t, 1, st.Objects)
	require.Equal(t, []archive.Problem{{Kind: archive.ProblemIndexModified, Seq: 3, Object: entries[2].Index,
		Manifest: "audit/default/a/manifest/000000000003.json", Expected: entries[2].IndexSHA256, Actual: st.Problems[0].Actual}}, st.Problems)
}

// TestParseRefusesWhatIsNotALogQuery: expressions that LogQL parses where a log query may stand
// but that select no stream, metric queries, and pipelines that cannot be compiled are refused as
// ParseError (never answered with every event); log queries keep working.
func TestParseRefusesWhatIsNotALogQuery(t *testing.T) {
	bkt, events, _ := newArchive(t, []string{"a"}, 40, 20)
	eng := &Engine{Bucket: bkt}
	refused := map[string]string{
		`1 > 2`:                                  "selects no stream",
		`1`:                                      "selects no stream",
		`-1`:                                     "selects no stream",
		`1 + 1 == 2`:                             "selects no stream",
		`vector(0)`:                              "selects no stream",
		`vector(1) > 0`:                          "",
		`rate({cluster="a"}[5m])`:                "",
		`count_over_time({cluster="a"}[1h]) > 0`: "",
		`sum by (verb) (count_over_time({cluster="a"}[1h]))`:                "",
		`label_replace(rate({cluster="a"}[5m]), "x", "$1", "verb", "(.*)")`: "",
		`{cluster="a"} or {cluster="b"}`:                                    "",
		`{cluster="a"} > 1`:                                                 "",
		`{cluster="a"} |~ "a{2000}"`:                                        "invalid repeat count",
		`{cluster="a"} != "x" |~ "(b{1001})"`:                               "invalid repeat count",
		`{cluster="a"} | json |~ "a{2000}"`:                                 "invalid repeat count",
		`{cluster="a"} | json | line_format "{{ nosuchfunc .verb }}"`:       "nosuchfunc",
		`{cluster="a"} | label_format x="{{ nosuchfunc .verb }}"`:           "nosuchfunc",
		`{cluster="a"} | regexp "(?P<x>a{2000})"`:                           "invalid repeat count",
	}
	for q, msg := range refused {
		_, err := Parse(q)
		var pe ParseError
		require.ErrorAs(t, err, &pe, q)
		require.ErrorContains(t, err, msg, q)
		rs, _, err := eng.Run(context.Background(), Query{Expr: q})
		require.ErrorAs(t, err, &pe, q)
		require.Empty(t, rs, q)
	}
	for _, q := range []string{`{cluster="a"}`, `{cluster="a"} |~ "a{2}"`, `{cluster="a"} | json | line_format "{{ .verb | upper }}"`,
		`{cluster=~"a|b"} != "watch" | json | verb="get" or verb="list"`, `{user="alice"} | logfmt | drop __error__`} {
		_, err := Parse(q)
		require.NoError(t, err, q)
	}
	rs, _, err := eng.Run(context.Background(), Query{Expr: `{cluster="a"} | json | line_format "{{ .verb | upper }}"`})
	require.NoError(t, err)
	require.Len(t, rs, len(events))
}
