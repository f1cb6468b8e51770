package otlprelayreceiver

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/storage/fifo"
)

// sendLoop forwards the requests of q to the gateway until ctx ends: it takes the oldest queued
// requests and sends them as one export per max_export_bytes (uncompressed) — OTLP requests
// concatenated are one request holding all their resources, and zstd frames concatenated are
// one zstd stream, so the queued bytes are sent as they are — and removes them from the queue
// once the gateway took them or refused them for good. Requests it was sending when ctx ended
// stay queued.
func (r *relay) sendLoop(ctx context.Context, s otlpwire.Signal, q *fifo.Queue) {
	var (
		buf  []byte    // the queued requests are read into it, reused from export to export
		cut  []cutPart // the parts of the cut requests of buf
		wait *time.Timer
		full = true // the last export was full: more is waiting, do not wait for it
	)
	for {
		var (
			batch []fifo.Item
			err   error
		)
		// Compressed requests are a fraction of their size: take enough for a full export — to
		// each gateway up, when requests are cut for several (cut.go).
		take, calls := r.cfg.MaxExportBytes/4, int64(1)
		if r.perItem[s] {
			// An export of requests cut for n gateways makes n calls at once: it takes n of the
			// signal's num_senders calls, and lets requests gather n times as long, so that each
			// gateway gets exports about as large as one gateway alone would, not n times as many.
			n := max(1, r.fwd.router.upCount())
			take *= n
			calls = int64(min(n, r.cfg.NumSenders))
			if r.calls[s].Acquire(ctx, calls) != nil {
				return
			}
		}
		if !full && r.cfg.BatchWait > 0 { // let small requests gather into one export
			d := r.cfg.BatchWait * time.Duration(calls)
			if wait == nil {
				wait = time.NewTimer(d)
			} else {
				wait.Reset(d)
			}
			select {
			case <-ctx.Done():
				r.release(s, calls)
				return
			case <-wait.C:
			}
		}
		batch, buf, err = q.NextAppend(ctx, take, buf)
		if err != nil {
			r.release(s, calls)
			return
		}
		var (
			parts  net.Buffers
			counts []int // items of each part
			bytes  int
		)
		full = false
		cut = cut[:0]
		for _, it := range batch {
			if isCut(it.Data) {
				var ok bool
				if cut, ok = appendCutParts(cut, it.Data); !ok {
					r.set.Logger.Error("damaged request in the durable queue, dropped", zap.Stringer("signal", s), zap.Uint64("seq", it.Seq))
				}
				continue
			}
			if len(it.Data) < itemCountsLen {
				r.set.Logger.Error("damaged request in the durable queue, dropped", zap.Stringer("signal", s), zap.Uint64("seq", it.Seq))
				continue
			}
			n, size := int(binary.BigEndian.Uint32(it.Data)), int(binary.BigEndian.Uint32(it.Data[4:]))
			if len(parts) > 0 && bytes+size > r.cfg.MaxExportBytes {
				full = true
				if !r.export(ctx, s, parts, counts) {
					r.release(s, calls)
					return
				}
				parts, counts, bytes = nil, nil, 0
			}
			parts = append(parts, it.Data[itemCountsLen:])
			counts = append(counts, n)
			bytes += size
		}
		if bytes > r.cfg.MaxExportBytes/2 || len(buf) >= take {
			full = true
		}
		if len(parts) > 0 && !r.export(ctx, s, parts, counts) {
			r.release(s, calls)
			return
		}
		if len(cut) > 0 && !r.exportCut(ctx, s, cut) {
			r.release(s, calls)
			return
		}
		r.release(s, calls)
		if err := q.Done(batch...); err != nil {
			r.set.Logger.Warn("cannot remove sent requests from the durable queue; they will be sent again after a restart",
				zap.Stringer("signal", s), zap.Error(err))
		}
	}
}

// release gives back the calls a sender of signal s took (sendLoop).
func (r *relay) release(s otlpwire.Signal, calls int64) {
	if r.perItem[s] {
		r.calls[s].Release(calls)
	}
}

// export sends parts (zstd frames of OTLP requests, of counts[i] items each) to the gateways
// until they accept them, or refuse them for good (the items are dropped and counted), or ctx
// ends (false: the requests stay queued). Traces and metrics routed by item (routing::traces
// trace_id, routing::metrics series) are split over the gateways up when there are several
// (exportSplit); otherwise the frames go as they are to one gateway (exportWhole).
func (r *relay) export(ctx context.Context, s otlpwire.Signal, parts net.Buffers, counts []int) bool {
	if r.perItem[s] && r.fwd.router.upCount() > 1 {
		req, items, err := r.decode(parts, counts)
		if err == nil {
			ok := r.exportSplit(ctx, s, req, items)
			r.putBuf(req)
			return ok
		}
		r.set.Logger.Error("cannot decompress queued requests to split them; they go whole to one gateway",
			zap.Stringer("signal", s), zap.Error(err))
	}
	return r.exportWhole(ctx, s, parts, counts)
}

// exportWhole sends parts (zstd frames of OTLP requests, of counts[i] items each) to the
// gateway until it accepts them, or refuses them for good (the items are dropped and counted),
// or ctx ends (false: the requests stay queued). An export over the gateway's message size
// limit is sent again in halves; only a single request over it is dropped.
func (r *relay) exportWhole(ctx context.Context, s otlpwire.Signal, parts net.Buffers, counts []int) bool {
	size, items := 0, 0
	for i, p := range parts {
		size += len(p)
		items += counts[i]
	}
	var bo *backoff.ExponentialBackOff // made at the first failure (waitRetry)
	for {
		callCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		st, answer, again := r.fwd.export(callCtx, s, parts, size)
		cancel()
		if st.Code() == codes.OK {
			r.accepted(s, items, answer)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if tooLarge(st) && len(parts) > 1 {
			half := len(parts) / 2
			return r.export(ctx, s, parts[:half], counts[:half]) && r.export(ctx, s, parts[half:], counts[half:])
		}
		if permanent(st) {
			r.refused(s, items, st.Err())
			return true
		}
		r.tel.failures.Add(context.Background(), 1, reasonAttrs(s, failRetryable))
		if again { // the gateway is gone: another one takes its share at once
			if r.perItem[s] && r.fwd.router.upCount() > 1 {
				return r.export(ctx, s, parts, counts) // split over those up
			}
			continue
		}
		if !r.waitRetry(ctx, &bo, s, st) {
			return false
		}
	}
}

// waitRetry waits before the next try after the retryable failure st: the export's exponential
// backoff (*bo, made at its first failure: most exports succeed at once), or the gateway's
// RetryInfo when longer, at most retry's max_interval. It reports false when ctx ends first.
func (r *relay) waitRetry(ctx context.Context, bo **backoff.ExponentialBackOff, s otlpwire.Signal, st *status.Status) bool {
	if *bo == nil {
		*bo = backoff.NewExponentialBackOff()
		(*bo).InitialInterval, (*bo).MaxInterval = r.cfg.Retry.InitialInterval, r.cfg.Retry.MaxInterval
		(*bo).Reset()
	}
	wait := (*bo).NextBackOff()
	if d := retryDelay(st); d > wait {
		wait = min(d, r.cfg.Retry.MaxInterval)
	}
	r.logRetry(s, st.Err(), wait)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(wait):
		return true
	}
}

// permanent reports whether the gateway refused the data itself, so that sending it again would
// fail again and hold up the queue: INVALID_ARGUMENT (not OTLP it accepts), PERMISSION_DENIED
// (the data claims a cluster the agent's credentials are not for), and RESOURCE_EXHAUSTED for a
// message over the gateway's max_recv_msg_size_mib (grpc-go's "larger than max"). Every other
// failure — the gateway down, overloaded or its queue full, or not accepting the credentials
// (UNAUTHENTICATED, fixed by fixing them) — is retried: the queue on disk holds the data meanwhile.
func permanent(st *status.Status) bool {
	switch st.Code() {
	case codes.InvalidArgument, codes.PermissionDenied:
		return true
	case codes.ResourceExhausted:
		return tooLarge(st)
	}
	return false
}

// tooLarge reports whether st is grpc-go's refusal of a message over the server's
// max_recv_msg_size_mib.
func tooLarge(st *status.Status) bool {
	return st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// retryDelay is the RetryInfo delay of st, 0 without one.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay != nil {
			return ri.RetryDelay.AsDuration()
		}
	}
	return 0
}

// retryLogEvery is the least time between two log lines of failed exports of a relay
// (relay.lastRetryLog).
const retryLogEvery = 10 * time.Second

func (r *relay) logRetry(s otlpwire.Signal, err error, wait time.Duration) {
	now := time.Now().UnixNano()
	last := r.lastRetryLog.Load()
	if now-last < int64(retryLogEvery) || !r.lastRetryLog.CompareAndSwap(last, now) {
		return
	}
	r.set.Logger.Warn("export to the gateway failed; the queue holds the data and it is sent again",
		zap.Stringer("signal", s), zap.Strings("gateways", r.fwd.router.addrs()), zap.Duration("retry_in", wait), zap.Error(err))
}

// partialSuccess reads the partial_success (field 1) of an Export*ServiceResponse: the number of
// rejected items (its field 1) and the error message (its field 2). Unreadable responses count
// as full success: the gateway answered OK.
func partialSuccess(resp []byte) (rejected int64, msg string) {
	ps := field(resp, 1)
	if ps == nil {
		return 0, ""
	}
	for len(ps) > 0 {
		num, typ, n := protowire.ConsumeTag(ps)
		if n < 0 {
			return rejected, msg
		}
		ps = ps[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(ps)
			if m < 0 {
				return rejected, msg
			}
			rejected, n = int64(v), m
		case num == 2 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(ps)
			if m < 0 {
				return rejected, msg
			}
			msg, n = string(v), m
		default:
			n = protowire.ConsumeFieldValue(num, typ, ps)
			if n < 0 {
				return rejected, msg
			}
		}
		ps = ps[n:]
	}
	return rejected, msg
}

// field returns the last length-delimited field num of msg, nil when absent or unreadable.
func field(msg []byte, num protowire.Number) []byte {
	var out []byte
	for len(msg) > 0 {
		n, typ, m := protowire.ConsumeTag(msg)
		if m < 0 {
			return nil
		}
		msg = msg[m:]
		if n == num && typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(msg)
			if k < 0 {
				return nil
			}
			out, m = v, k
		} else if m = protowire.ConsumeFieldValue(n, typ, msg); m < 0 {
			return nil
		}
		msg = msg[m:]
	}
	return out
}
