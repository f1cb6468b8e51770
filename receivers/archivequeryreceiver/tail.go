package archivequeryreceiver

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/grafana/loki/v3/pkg/loghttp"
	"go.uber.org/zap"

	"github.com/vigil-obs/vigil/extensions/httpapiextension"
	"github.com/vigil-obs/vigil/storage/archivequery"
)

// maxTails bounds the live tails served at once, as Loki's max_concurrent_tail_requests.
const maxTails = 10

// tails are the live tails in progress: Shutdown ends them (their connections are hijacked, so
// the HTTP server's shutdown does not).
type tails struct {
	mu     sync.Mutex
	n      int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (t *tails) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ctx, t.cancel = context.WithCancel(context.Background())
}

// acquire counts a new tail; false when maxTails are running or the receiver is stopping.
func (t *tails) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil || t.ctx.Err() != nil || t.n >= maxTails {
		return false
	}
	t.n++
	t.wg.Add(1)
	return true
}

func (t *tails) release() {
	t.mu.Lock()
	t.n--
	t.mu.Unlock()
	t.wg.Done()
}

// stop ends every tail and waits for them (within ctx).
func (t *tails) stop(ctx context.Context) error {
	t.mu.Lock()
	if t.cancel != nil {
		t.cancel()
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tailPoll is how often a live tail looks for newly archived objects.
var tailPoll = time.Second

var upgrader = websocket.Upgrader{
	// Grafana proxies live tail from its backend; readers are authenticated by credential, so the
	// origin is not what protects the archive.
	CheckOrigin: func(*http.Request) bool { return true },
}

// tail serves Loki's /loki/api/v1/tail: a websocket that receives, as Loki's tail frames, the
// matching events of each object the archive exporter uploads (from start, default an hour ago).
// The tail is recorded in the audit trail before it starts.
func (r *queryReceiver) tail(w http.ResponseWriter, req *http.Request) {
	received := time.Now()
	reader, err := r.reader(req)
	if err != nil {
		httpapiextension.Refuse(w, err)
		return
	}
	if err := req.ParseForm(); err != nil {
		http.Error(w, "cannot parse the request parameters: "+err.Error(), http.StatusBadRequest)
		return
	}
	tq, err := loghttp.ParseTailQuery(req)
	if err == nil {
		_, err = archivequery.Parse(tq.Query)
	}
	ans := answer{code: http.StatusSwitchingProtocols, query: req.Form.Get("query")}
	if err != nil {
		ans = fail(http.StatusBadRequest, ans.query, err)
	} else if !r.tails.acquire() {
		ans = fail(http.StatusTooManyRequests, ans.query, errors.New("too many live tails: at most "+strconv.Itoa(maxTails)+" at once; try again later"))
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(req.Context()), 30*time.Second)
	defer rcancel()
	if err := r.record(rctx, req, reader, received, ans); err != nil {
		if ans.err == nil {
			r.tails.release()
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "cannot record this query in the audit trail, so its results are withheld: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if ans.err != nil {
		http.Error(w, ans.err.Error(), ans.code)
		return
	}
	defer r.tails.release()
	conn, err := upgrader.Upgrade(w, req, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.tails.ctx)
	defer cancel()
	go func() { // the client's close (or any read error) ends the tail
		defer cancel()
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	limit := int(tq.Limit)
	var cur archivequery.TailCursor
	for {
		results, st, err := r.engine.Tail(ctx, tq.Query, tq.Start, &cur)
		if err != nil {
			if ctx.Err() == nil {
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, err.Error()), time.Now().Add(time.Second))
			}
			return
		}
		if !st.Intact() {
			r.logger.Warn("archive tail: the archive is not intact where the tail read; sent the events of the intact objects",
				zap.String("query", tq.Query), zap.Int("problems", len(st.Problems)), zap.Stringer("first", st.Problems[0]))
		}
		for len(results) > 0 {
			n := len(results)
			if limit > 0 && n > limit {
				n = limit
			}
			frame := map[string]any{"streams": groupStreams(results[:n]), "dropped_entries": nil}
			results = results[n:]
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteJSON(frame); err != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return
		case <-time.After(tailPoll):
		}
	}
}
