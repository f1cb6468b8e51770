package walstorageextension

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"golang.org/x/sys/unix"

	"github.com/vigil-obs/vigil/internal/testutil"
)

// statusHost records the component status events the extension reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]componentstatus.Status, len(h.events))
	for i, ev := range h.events {
		out[i] = ev.Status()
	}
	return out
}

// TestFullDiskReportsAndRecovers: with the queue's directory on a file system that fills up (a
// real tmpfs), writes fail with ENOSPC — the HTTP middleware answers 503 with Retry-After — the
// extension reports a recoverable error, and once space is freed the same extension, without a
// restart, writes again and reports OK.
func TestFullDiskReportsAndRecovers(t *testing.T) {
	dir := testutil.MountTmpfs(t, 2<<20)
	cfg := createDefaultConfig()
	cfg.Directory, cfg.MaxBytes, cfg.SegmentBytes = filepath.Join(dir, "queue"), 0, 64<<10
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, ext.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	ctx := context.Background()
	c, err := ext.(storage.Extension).GetClient(ctx, component.KindExporter, component.MustNewID("otlp_grpc"), "logs")
	require.NoError(t, err)

	// An OTLP/HTTP receiver behind the middleware: its handler queues one item per request.
	wrap, err := ext.(*walStorage).GetHTTPHandler(ctx)
	require.NoError(t, err)
	n := 0
	h, err := wrap(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if err := c.Batch(r.Context(), storage.SetOperation(fmt.Sprint("item", n), make([]byte, 10_000))); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	require.NoError(t, err)
	post := func() *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/logs", strings.NewReader("{}")))
		return rec.Result()
	}
	require.Equal(t, http.StatusOK, post().StatusCode)

	filler := testutil.FillDisk(t, dir)
	var resp *http.Response
	for range 100 { // the segment's reserved blocks are used up first
		if resp = post(); resp.StatusCode != http.StatusOK {
			break
		}
	}
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	err = c.Set(ctx, "state", make([]byte, 10_000))
	require.ErrorIs(t, err, unix.ENOSPC, "other clients' writes fail too, with the cause")
	require.Eventually(t, func() bool {
		s := host.statuses()
		return len(s) == 1 && s[0] == componentstatus.StatusRecoverableError
	}, 5*time.Second, 5*time.Millisecond)
	host.mu.Lock()
	require.ErrorContains(t, host.events[0].Err(), "no space left on device")
	require.ErrorContains(t, host.events[0].Err(), "walstorage directory")
	host.mu.Unlock()

	// Small writes fit in what the refused ones left (a queue's bookkeeping): the status stays
	// unhealthy while there is no room for batches.
	_ = c.Set(ctx, "position", []byte("1"))
	time.Sleep(3 * probeInterval)
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses(), "no flapping on a nearly full disk")

	require.NoError(t, os.Remove(filler))
	// Without any writer, the extension's probe finds that the log writes again.
	require.Eventually(t, func() bool {
		s := host.statuses()
		return len(s) == 2 && s[1] == componentstatus.StatusOK
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, http.StatusOK, post().StatusCode, "writes resume by themselves")
	require.NoError(t, c.Set(ctx, "state", make([]byte, 10_000)))
	require.Len(t, host.statuses(), 2)
}
