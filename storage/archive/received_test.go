package archive

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An object's receive times are in its manifest entry (v3), covered by the hash chain, and
// verify lists the objects whose events are dated long before vigil received them.
func TestReceiveTimesAreChainedAndLateObjectsListed(t *testing.T) {
	dir := t.TempDir()
	bkt, err := NewFilesystemBucket(dir)
	require.NoError(t, err)
	ctx := context.Background()
	received := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	onTime := Span{First: received.Add(-2 * time.Second), Last: received, ReceivedFirst: received, ReceivedLast: received.Add(time.Second)}
	e1, err := AppendIndexed(ctx, bkt, stream, nil, onTime, JoinLines([][]byte{event(1, 1)}), nil)
	require.NoError(t, err)
	require.Equal(t, "2026-12-07T03:00:00Z", e1.ReceivedFirst)
	require.Equal(t, "2026-12-07T03:00:01Z", e1.ReceivedLast)
	require.True(t, strings.HasPrefix(e1.ChainInput(), "vigil-archive-v3\n"))
	require.True(t, strings.HasSuffix(e1.ChainInput(), "\n2026-12-07T03:00:00Z\n2026-12-07T03:00:01Z\n"))

	backdated := Span{First: received.Add(-48 * time.Hour), Last: received.Add(-48 * time.Hour), ReceivedFirst: received, ReceivedLast: received}
	e2, err := AppendIndexed(ctx, bkt, stream, &e1, backdated, JoinLines([][]byte{event(2, 1)}), nil)
	require.NoError(t, err)
	// Without receive times (an older writer): a v2 entry, in the same chain.
	e3, err := AppendNDJSON(ctx, bkt, stream, &e2, received, received, JoinLines([][]byte{event(3, 1)}))
	require.NoError(t, err)
	require.Empty(t, e3.ReceivedFirst)
	require.True(t, strings.HasPrefix(e3.ChainInput(), "vigil-archive-v2\n"))

	rep, err := VerifyRange(ctx, bkt, stream, VerifyOptions{LateAfter: time.Hour})
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, []LateObject{{Seq: 2, Object: e2.Object, Events: 1, First: "2026-12-05T03:00:00Z", ReceivedFirst: "2026-12-07T03:00:00Z"}}, rep.Late)
	rep, err = VerifyRange(ctx, bkt, stream, VerifyOptions{})
	require.NoError(t, err)
	require.Empty(t, rep.Late, "not listed without LateAfter")

	// Moving the receive time next to the events' own time (hiding the backdating) breaks the chain.
	p := path(dir, stream.ManifestName(2))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"received_first":"2026-12-07T03:00:00Z"`, `"received_first":"2026-12-05T03:00:00Z"`, 1)), 0o600))
	rep, err = VerifyRange(ctx, bkt, stream, VerifyOptions{LateAfter: time.Hour})
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, ProblemEntryModified, rep.Problems[0].Kind)
	require.Equal(t, uint64(2), rep.Problems[0].Seq)
}
