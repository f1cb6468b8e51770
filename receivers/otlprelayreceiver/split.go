package otlprelayreceiver

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// Routing by item (routing::traces trace_id, routing::metrics series) with several gateways up.
//
// Requests are cut when they are queued (cut.go); what is split here, at send time, is what was
// not cut for the gateways up now: requests queued with one gateway up (or by a version from
// before cutting), parts of a gateway gone or cut for another set of gateways, and parts whose
// gateway fails as a gone gateway does.
//
// The split happens at send time, from the queued requests: a sender takes the oldest queued
// requests as for one export, decompresses them (OTLP requests concatenated are one request),
// cuts the request on the wire into one part per gateway up (otlpwire.Splitter: each span to
// the gateway its trace ID ranks first by rendezvous hashing, each data point to the one its
// series ranks first), compresses each part and sends the parts to their gateways at once. The
// queued requests leave the queue only when every part was accepted (or refused for good), so
// nothing acknowledged is lost. A part whose gateway fails as a gone gateway does is cut again
// over the gateways still up — its items go to the gateway each ranks next, the other parts are
// not sent again. A crash after some parts were accepted sends the whole export again after the
// restart: delivery is at least once, as for any export that was under way (the archive and
// OpenSearch absorb duplicates of audit data; a trace backend stores a span sent twice once per
// copy or, as Tempo and Jaeger do, deduplicates by span ID).
//
// With one gateway up nothing is decoded: exportWhole sends the queued frames as they are.

// decode decompresses parts, zstd frames of OTLP requests, into one request (a buffer of
// r.bufs, to give back with putBuf).
func (r *relay) decode(parts net.Buffers, counts []int) ([]byte, int, error) {
	buf := r.getBuf()
	items := 0
	for i, p := range parts {
		var err error
		if buf, err = r.fwd.dec.DecodeAll(p, buf); err != nil {
			r.putBuf(buf)
			return nil, 0, err
		}
		items += counts[i]
	}
	return buf, items, nil
}

func (r *relay) getBuf() []byte {
	if b, ok := r.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, r.cfg.MaxExportBytes)
}

func (r *relay) putBuf(b []byte) {
	if cap(b) <= 4*r.cfg.MaxExportBytes {
		r.bufs.Put(&b)
	}
}

// exportSplit sends req (an uncompressed request of signal s, of items items) split by routing
// key over the gateways up, each part to its gateway, concurrently; with one gateway up (or
// none), whole. It returns when every part was accepted or refused for good (true), or ctx
// ended (false).
func (r *relay) exportSplit(ctx context.Context, s otlpwire.Signal, req []byte, items int) bool {
	ups := r.fwd.router.up(nil)
	if len(ups) <= 1 {
		z := r.zstd.EncodeAll(req, nil)
		return r.exportWhole(ctx, s, net.Buffers{z}, []int{items})
	}
	sp, _ := r.splitters.Get().(*otlpwire.Splitter)
	if sp == nil {
		sp = new(otlpwire.Splitter)
	}
	defer r.splitters.Put(sp)
	parts, counts, err := sp.Split(s, req, len(ups), func(k uint64) int { return owner(ups, k) })
	if err != nil { // the queue holds what Check accepted: not expected
		r.set.Logger.Error("cannot split a queued request; it goes whole to one gateway", zap.Stringer("signal", s), zap.Error(err))
		return r.exportWhole(ctx, s, net.Buffers{r.zstd.EncodeAll(req, nil)}, []int{items})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done = true
	)
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		wg.Go(func() {
			if !r.exportPart(ctx, s, ups[i], p, counts[i]) {
				mu.Lock()
				done = false
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return done
}

// exportPart sends part, a request of items items whose owner is g, until g accepts it or
// refuses it for good; when g fails as a gone gateway does, part is split again over the
// gateways up (g is marked down: its items go to their next gateway). Other failures are
// retried on g with backoff while g is up.
func (r *relay) exportPart(ctx context.Context, s otlpwire.Signal, g *gateway, part []byte, items int) bool {
	z := r.zstd.EncodeAll(part, nil)
	var bo *backoff.ExponentialBackOff
	for {
		callCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		st, answer := r.fwd.call(callCtx, g, s, net.Buffers{z}, len(z))
		cancel()
		if st.Code() == codes.OK {
			r.accepted(s, items, answer)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if tooLarge(st) {
			if a, b, ok := halves(part); ok {
				na, _ := otlpwire.Check(s, a)
				nb, _ := otlpwire.Check(s, b)
				return r.exportPart(ctx, s, g, a, na) && r.exportPart(ctx, s, g, b, nb)
			}
		}
		if permanent(st) {
			r.refused(s, items, st.Err())
			return true
		}
		r.tel.failures.Add(context.Background(), 1, reasonAttrs(s, failRetryable))
		if c := st.Code(); c == codes.Unavailable || c == codes.DeadlineExceeded {
			if r.fwd.router.markDown(g, st.Err()) { // its items go to their next gateway at once
				return r.exportSplit(ctx, s, part, items)
			}
		}
		if !r.waitRetry(ctx, &bo, s, st) {
			return false
		}
		if !g.up(time.Now().UnixNano()) { // marked down meanwhile: its items go elsewhere
			return r.exportSplit(ctx, s, part, items)
		}
	}
}

// accepted counts an export of items items the gateway accepted with answer (its partial
// success, if any).
func (r *relay) accepted(s otlpwire.Signal, items int, answer []byte) {
	rejected, msg := partialSuccess(answer)
	r.tel.exports.Add(context.Background(), 1, signalAttr(s))
	r.tel.sent.Add(context.Background(), int64(items)-rejected, signalAttr(s))
	if rejected > 0 {
		r.tel.dropped.Add(context.Background(), rejected, reasonAttrs(s, "partial"))
		r.set.Logger.Warn("the gateway rejected part of an export", zap.Stringer("signal", s),
			zap.Int64("rejected", rejected), zap.String("message", msg))
	}
}

// refused counts an export of items items the gateway refused for good.
func (r *relay) refused(s otlpwire.Signal, items int, err error) {
	r.tel.failures.Add(context.Background(), 1, reasonAttrs(s, failPermanent))
	r.tel.dropped.Add(context.Background(), int64(items), reasonAttrs(s, failPermanent))
	r.set.Logger.Error("the gateway refused an export for good; its items are dropped",
		zap.Stringer("signal", s), zap.Int("items", items), zap.Error(err))
}

// halves cuts req, an export request, into two requests of half its ResourceX fields each;
// false when it has fewer than two.
func halves(req []byte) (a, b []byte, ok bool) {
	var ends []int
	for pos := 0; pos < len(req); {
		num, typ, n := protowire.ConsumeTag(req[pos:])
		if n < 0 {
			return nil, nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, req[pos+n:])
		if m < 0 {
			return nil, nil, false
		}
		pos += n + m
		ends = append(ends, pos)
	}
	if len(ends) < 2 {
		return nil, nil, false
	}
	mid := ends[len(ends)/2-1]
	return req[:mid], req[mid:], true
}
