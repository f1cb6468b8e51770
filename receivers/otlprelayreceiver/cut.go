package otlprelayreceiver

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// Routing by item, cut at enqueue time.
//
// With several gateways up, a request of traces or metrics routed by item is cut when it is
// queued, while it is still uncompressed: otlpwire.Splitter cuts it into one part per gateway
// up (each span to the gateway its trace ID ranks first, each data point to the one its series
// ranks first), each part is compressed as a zstd frame of its own, and the request is queued
// as one item holding the parts, each tagged with its gateway (the seed of its address), and
// the id of the set of gateways it was cut for (router.members).
//
// A sender sends the frames of every part whose gateway still owns its items (the same set of
// gateways up, or a subset of it: router.stillOwned) to that gateway as they are, without
// decoding them, several parts of the same gateway in one export up to max_export_bytes, the
// gateways at once. The parts whose gateway is gone, or cut for another set (a gateway added,
// or a set from before a restart), and those whose gateway fails as a gone gateway does, are
// sent as a queued request that was not cut is (export: decompressed, split again over the
// gateways up). The item leaves the queue once every part of it was accepted (or refused for
// good), as one that was not cut does.
//
// A cut item's data, after the queue's header:
//
//	4 bytes  cutFlag | the number of parts, big endian
//	4 bytes  the size of the parts uncompressed, together
//	8 bytes  the id of the set of gateways it was cut for (setID)
//	each part: 8 bytes the seed of its gateway, 4 the number of its items, 4 its size
//	uncompressed, 4 the length of its frame, then its zstd frame.
//
// An item whose first 4 bytes lack cutFlag is a request that was not cut: its number of items,
// its size, its zstd frame (itemCountsLen).

const (
	cutFlag          = 1 << 31
	cutHeaderLen     = 16
	cutPartHeaderLen = 20
)

// cutPart is one part of a cut item.
type cutPart struct {
	seed   uint64
	items  int
	size   int
	frame  []byte
	gw     *gateway // the gateway up of seed, nil if none (sender only)
	cutFor uint64   // the set of gateways it was cut for (sender only)
}

// isCut reports whether data, a queued item's data, is a cut item.
func isCut(data []byte) bool {
	return len(data) >= 4 && binary.BigEndian.Uint32(data)&cutFlag != 0
}

// cutItem appends to item (the queue's header and the counts' room, itemHeader bytes) req, a
// request of signal s, cut over the gateways of set id, gws (members), as a cut item. It
// returns false, and item unchanged, when req cannot be split (not expected: Check accepted it)
// or holds no item.
func (r *relay) cutItem(item []byte, s otlpwire.Signal, req []byte, gws []*gateway, id uint64) ([]byte, bool) {
	sp, _ := r.splitters.Get().(*otlpwire.Splitter)
	if sp == nil {
		sp = new(otlpwire.Splitter)
	}
	defer r.splitters.Put(sp)
	parts, counts, err := sp.Split(s, req, len(gws), func(k uint64) int { return owner(gws, k) })
	if err != nil {
		return item, false
	}
	nonEmpty := 0
	for _, p := range parts {
		if len(p) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty == 0 {
		return item, false
	}
	start := len(item) - itemCountsLen
	item = item[:start]
	item = binary.BigEndian.AppendUint32(item, cutFlag|uint32(nonEmpty))
	item = binary.BigEndian.AppendUint32(item, uint32(len(req)))
	item = binary.BigEndian.AppendUint64(item, id)
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		item = binary.BigEndian.AppendUint64(item, gws[i].seed)
		item = binary.BigEndian.AppendUint32(item, uint32(counts[i]))
		item = binary.BigEndian.AppendUint32(item, uint32(len(p)))
		at := len(item)
		item = binary.BigEndian.AppendUint32(item, 0)
		item = r.zstd.EncodeAll(p, item)
		binary.BigEndian.PutUint32(item[at:], uint32(len(item)-at-4))
	}
	return item, true
}

// appendCutParts appends to dst the parts of data, a cut item's data; false if it is damaged.
func appendCutParts(dst []cutPart, data []byte) ([]cutPart, bool) {
	if len(data) < cutHeaderLen {
		return dst, false
	}
	n := int(binary.BigEndian.Uint32(data) &^ cutFlag)
	id := binary.BigEndian.Uint64(data[8:])
	data = data[cutHeaderLen:]
	start := len(dst)
	for range n {
		if len(data) < cutPartHeaderLen {
			return dst[:start], false
		}
		p := cutPart{
			seed:   binary.BigEndian.Uint64(data),
			items:  int(binary.BigEndian.Uint32(data[8:])),
			size:   int(binary.BigEndian.Uint32(data[12:])),
			cutFor: id,
		}
		zlen := int(binary.BigEndian.Uint32(data[16:]))
		data = data[cutPartHeaderLen:]
		if zlen > len(data) {
			return dst[:start], false
		}
		p.frame, data = data[:zlen], data[zlen:]
		dst = append(dst, p)
	}
	return dst, len(data) == 0
}

// ownedExport is the parts of one export to one gateway.
type ownedExport struct {
	gw     *gateway
	frames net.Buffers
	counts []int
	size   int // uncompressed
}

// exportCut sends parts, the parts of cut items, until each was accepted or refused for good
// (true), or ctx ended (false): the parts whose gateway still owns their items to it, as they
// are (exportOwned), several in an export up to max_export_bytes, the gateways at once; the
// others as requests that were not cut are sent (export).
func (r *relay) exportCut(ctx context.Context, s otlpwire.Signal, parts []cutPart) bool {
	ups, upsID := r.fwd.router.members(nil)
	var (
		exports []*ownedExport
		last    = map[*gateway]*ownedExport{}
		other   net.Buffers
		counts  []int
		sizes   []int
		valid   = map[uint64]bool{}
	)
	for _, p := range parts {
		ok, seen := valid[p.cutFor]
		if !seen {
			ok = len(ups) > 0 && r.fwd.router.stillOwned(p.cutFor, ups, upsID)
			valid[p.cutFor] = ok
		}
		var g *gateway
		if ok {
			for _, u := range ups {
				if u.seed == p.seed {
					g = u
					break
				}
			}
		}
		if g == nil {
			other = append(other, p.frame)
			counts = append(counts, p.items)
			sizes = append(sizes, p.size)
			continue
		}
		e := last[g]
		if e == nil || (len(e.frames) > 0 && e.size+p.size > r.cfg.MaxExportBytes) {
			e = &ownedExport{gw: g}
			exports = append(exports, e)
			last[g] = e
		}
		e.frames = append(e.frames, p.frame)
		e.counts = append(e.counts, p.items)
		e.size += p.size
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done = true
	)
	fail := func() {
		mu.Lock()
		done = false
		mu.Unlock()
	}
	byGateway := map[*gateway][]*ownedExport{}
	for _, e := range exports {
		byGateway[e.gw] = append(byGateway[e.gw], e)
	}
	for _, es := range byGateway { // each gateway's exports one after the other, the gateways at once
		wg.Go(func() {
			for _, e := range es {
				if !r.exportOwned(ctx, s, e.gw, e.frames, e.counts) {
					fail()
					return
				}
			}
		})
	}
	if len(other) > 0 {
		wg.Go(func() {
			if !r.exportChunks(ctx, s, other, counts, sizes) {
				fail()
			}
		})
	}
	wg.Wait()
	return done
}

// exportChunks sends frames (of counts[i] items and sizes[i] bytes uncompressed each) with
// export, in exports of at most max_export_bytes uncompressed, one after the other.
func (r *relay) exportChunks(ctx context.Context, s otlpwire.Signal, frames net.Buffers, counts, sizes []int) bool {
	for len(frames) > 0 {
		n, bytes := 1, sizes[0]
		for n < len(frames) && bytes+sizes[n] <= r.cfg.MaxExportBytes {
			bytes += sizes[n]
			n++
		}
		if !r.export(ctx, s, frames[:n], counts[:n]) {
			return false
		}
		frames, counts, sizes = frames[n:], counts[n:], sizes[n:]
	}
	return true
}

// exportOwned sends frames (zstd frames of requests of counts[i] items each, every item owned by
// g) to g as they are, until g accepts them or refuses them for good (true), or ctx ends
// (false). When g fails as a gone gateway does, or is marked down while the export waits to be
// sent again, the frames are sent as requests that were not cut are (export: split again over
// the gateways up, g's items going to the gateway each ranks next). An export over g's message
// size limit is sent again in halves.
func (r *relay) exportOwned(ctx context.Context, s otlpwire.Signal, g *gateway, frames net.Buffers, counts []int) bool {
	size, items := 0, 0
	for i, f := range frames {
		size += len(f)
		items += counts[i]
	}
	var bo *backoff.ExponentialBackOff
	for {
		callCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		st, answer := r.fwd.call(callCtx, g, s, frames, size)
		cancel()
		if st.Code() == codes.OK {
			r.accepted(s, items, answer)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if tooLarge(st) {
			if len(frames) > 1 {
				half := len(frames) / 2
				return r.exportOwned(ctx, s, g, frames[:half], counts[:half]) &&
					r.exportOwned(ctx, s, g, frames[half:], counts[half:])
			}
			return r.export(ctx, s, frames, counts)
		}
		if permanent(st) {
			r.refused(s, items, st.Err())
			return true
		}
		r.tel.failures.Add(context.Background(), 1, reasonAttrs(s, failRetryable))
		if c := st.Code(); c == codes.Unavailable || c == codes.DeadlineExceeded {
			if r.fwd.router.markDown(g, st.Err()) { // its items go to their next gateway at once
				r.set.Logger.Debug("gateway gone: its parts are split again over the gateways up", zap.String("gateway", g.addr))
				return r.export(ctx, s, frames, counts)
			}
		}
		if !r.waitRetry(ctx, &bo, s, st) {
			return false
		}
		if !g.up(time.Now().UnixNano()) { // marked down meanwhile: its items go elsewhere
			return r.export(ctx, s, frames, counts)
		}
	}
}
