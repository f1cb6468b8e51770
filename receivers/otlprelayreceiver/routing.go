package otlprelayreceiver

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/vigil-obs/vigil/internal/otlpwire"
)

// dnsScheme prefixes a forward::endpoint whose host's addresses are the gateways (gRPC's name
// syntax: dns:///host:port, e.g. a Kubernetes headless Service).
const dnsScheme = "dns:///"

// downFor is how long a gateway that failed as a gone gateway does is passed over before the
// next export tries it again.
const downFor = 5 * time.Second

// gateway is one gateway replica's client.
type gateway struct {
	addr      string
	client    *http.Client
	urls      [len(signals)]string // of the Export method of each signal's service
	weight    uint64               // rendezvous weight of (routing key, addr)
	weights   [len(signals)]uint64 // of (the signal's routing key, addr): weight but for logs by cluster
	seed      uint64               // of addr, for routing by item (trace ID, series): the same on every agent
	downUntil atomic.Int64         // unix nanoseconds; 0: up
}

func (g *gateway) up(now int64) bool { return g.downUntil.Load() <= now }

// router keeps the gateways — forward::endpoints, forward::endpoint, or the addresses of a
// dns:/// endpoint's host, resolved every resolve_interval — and picks the one an export goes
// to: the highest rendezvous weight for the routing key among those up (highest random weight
// hashing: each agent's data meets on one gateway; when a gateway is added or removed only the
// agents that rank it first move). It is safe for concurrent use.
type router struct {
	key      string
	keys     [len(signals)]string // the routing key of each signal's requests that are not split
	host     string               // of a dns:/// endpoint; "" with static endpoints
	port     string
	interval time.Duration
	newGW    func(addr, serverName string) *gateway
	onDown   func(addr string, err error)
	resolve  func(ctx context.Context, host string) ([]string, error)

	mu     sync.RWMutex
	gws    []*gateway // by weight, highest first
	resErr string     // the last resolution's error, "" after a success

	// sets are the sets of gateways up that members handed out recently, by setID: the seeds
	// of their gateways, for stillOwned. At most maxSets; forgotten all at once beyond it (a
	// request cut for a forgotten set is cut again at send time).
	setsMu sync.RWMutex
	sets   map[uint64][]uint64

	cancel context.CancelFunc
	done   chan struct{}
}

func newRouter(cfg *Config, newGW func(addr, serverName string) *gateway, onDown func(string, error)) *router {
	r := &router{key: cfg.routingKey(), interval: cfg.Forward.ResolveInterval, newGW: newGW, onDown: onDown,
		resolve: net.DefaultResolver.LookupHost}
	for i, s := range signals {
		r.keys[i] = cfg.signalKey(s)
	}
	if rest, ok := strings.CutPrefix(cfg.Forward.Endpoint, dnsScheme); ok {
		r.host, r.port, _ = net.SplitHostPort(rest)
		return r
	}
	addrs := cfg.Forward.Endpoints
	if len(addrs) == 0 {
		addrs = []string{cfg.Forward.Endpoint}
	}
	r.set(addrs, "")
	return r
}

// RendezvousWeight is the weight of gateway addr for key by which the relay ranks the gateways
// (rendezvous hashing): a key goes to the gateway of the highest weight among those up.
func RendezvousWeight(key, addr string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(addr))
	// FNV's high bits mix poorly for inputs that differ at the end: finalize (splitmix64).
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// set makes addrs the gateways, keeping the clients (and down marks) of those already known.
func (r *router) set(addrs []string, serverName string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := map[string]*gateway{}
	for _, g := range r.gws {
		old[g.addr] = g
	}
	gws := make([]*gateway, 0, len(addrs))
	for _, a := range addrs {
		g, ok := old[a]
		if ok {
			delete(old, a)
		} else {
			g = r.newGW(a, serverName)
			g.weight = RendezvousWeight(r.key, a)
			for i, k := range r.keys {
				g.weights[i] = RendezvousWeight(k, a)
			}
			g.seed = xxhash.Sum64String(a)
		}
		if !slices.ContainsFunc(gws, func(x *gateway) bool { return x.addr == a }) {
			gws = append(gws, g)
		}
	}
	slices.SortFunc(gws, func(a, b *gateway) int {
		switch {
		case a.weight > b.weight:
			return -1
		case a.weight < b.weight:
			return 1
		}
		return strings.Compare(a.addr, b.addr)
	})
	r.gws = gws
	for _, g := range old { // gone: idle connections closed, calls under way finish
		g.client.CloseIdleConnections()
	}
}

// start resolves a dns:/// endpoint at once (bounded by 5s: a failure leaves no gateway, and
// exports wait for the next resolution) and then every interval, until stop.
func (r *router) start() {
	if r.host == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	r.refresh(ctx)
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.refresh(ctx)
			}
		}
	}()
}

func (r *router) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.resolve(ctx, r.host)
	if err == nil && len(ips) == 0 {
		err = errors.New("no address")
	}
	if err != nil {
		r.mu.Lock() // keep the gateways known: a DNS outage must not stop the exports
		r.resErr = fmt.Sprintf("cannot resolve %s: %v", r.host, err)
		r.mu.Unlock()
		return
	}
	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = net.JoinHostPort(ip, r.port)
	}
	r.set(addrs, r.host)
	r.mu.Lock()
	r.resErr = ""
	r.mu.Unlock()
}

func (r *router) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.gws {
		g.client.CloseIdleConnections()
	}
}

// pick returns the gateway of highest weight among those up, else (all down) the one whose
// down mark ends first; nil when none is known.
func (r *router) pick() *gateway {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now := time.Now().UnixNano()
	var soonest *gateway
	for _, g := range r.gws {
		until := g.downUntil.Load()
		if until <= now {
			return g
		}
		if soonest == nil || until < soonest.downUntil.Load() {
			soonest = g
		}
	}
	return soonest
}

// pickFor returns the gateway of signal s's requests that are not split: pick for the agent's
// routing key, or by the signal's own key (logs by cluster).
func (r *router) pickFor(s otlpwire.Signal) *gateway {
	if r.keys[s] == r.key {
		return r.pick()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	now := time.Now().UnixNano()
	var best, soonest *gateway
	for _, g := range r.gws {
		if g.up(now) {
			if best == nil || g.weights[s] > best.weights[s] {
				best = g
			}
		} else if soonest == nil || g.downUntil.Load() < soonest.downUntil.Load() {
			soonest = g
		}
	}
	if best != nil {
		return best
	}
	return soonest
}

// up appends to dst the gateways that are up, highest weight first.
func (r *router) up(dst []*gateway) []*gateway {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now := time.Now().UnixNano()
	for _, g := range r.gws {
		if g.up(now) {
			dst = append(dst, g)
		}
	}
	return dst
}

// upCount is the number of gateways up.
func (r *router) upCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now, n := time.Now().UnixNano(), 0
	for _, g := range r.gws {
		if g.up(now) {
			n++
		}
	}
	return n
}

// maxSets bounds router.sets.
const maxSets = 64

// setID identifies a set of gateways, whatever their order: the sum of Mix of their seeds.
func setID(gws []*gateway) uint64 {
	var id uint64
	for _, g := range gws {
		id += otlpwire.Mix(g.seed ^ 0x5e7)
	}
	return id
}

// members appends to dst the gateways that are up, highest weight first, and returns them with
// the id of their set (setID), which it remembers (stillOwned) when there are several. The relay
// cuts a request for them when it queues it.
func (r *router) members(dst []*gateway) ([]*gateway, uint64) {
	dst = r.up(dst)
	id := setID(dst)
	if len(dst) < 2 {
		return dst, id
	}
	r.setsMu.RLock()
	_, known := r.sets[id]
	r.setsMu.RUnlock()
	if !known {
		seeds := make([]uint64, len(dst))
		for i, g := range dst {
			seeds[i] = g.seed
		}
		r.setsMu.Lock()
		if r.sets == nil || len(r.sets) >= maxSets {
			r.sets = map[uint64][]uint64{}
		}
		r.sets[id] = seeds
		r.setsMu.Unlock()
	}
	return dst, id
}

// stillOwned reports whether every item that the gateways of set id (members) ranked first
// for a gateway of ups still ranks that gateway first among ups, the gateways up now: ups is
// the same set, or a subset of it (gateways gone, none added). Rendezvous hashing moves only
// the items of a gateway that went away, and those of a gateway added move to it. It reports
// false for a set it does not remember (too old, or from before a restart).
func (r *router) stillOwned(id uint64, ups []*gateway, upsID uint64) bool {
	if id == upsID {
		return true
	}
	r.setsMu.RLock()
	seeds, ok := r.sets[id]
	r.setsMu.RUnlock()
	if !ok {
		return false
	}
	for _, g := range ups {
		if !slices.Contains(seeds, g.seed) {
			return false
		}
	}
	return true
}

// owner returns the index in gws of the gateway that an item of routing key key goes to: the
// highest rendezvous weight Mix(key ^ seed); every agent ranks the gateways of a key alike, and
// when one goes away its items go to the one ranked second.
func owner(gws []*gateway, key uint64) int {
	best, bw := 0, uint64(0)
	for i, g := range gws {
		if w := otlpwire.Mix(key ^ g.seed); i == 0 || w > bw {
			best, bw = i, w
		}
	}
	return best
}

// markDown passes over g for downFor, and reports whether another gateway is up to take its share.
func (r *router) markDown(g *gateway, err error) bool {
	now := time.Now()
	if prev := g.downUntil.Swap(now.Add(downFor).UnixNano()); prev <= now.UnixNano() && r.onDown != nil {
		r.onDown(g.addr, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, o := range r.gws {
		if o != g && o.downUntil.Load() <= now.UnixNano() {
			return true
		}
	}
	return false
}

func (r *router) lastError() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.resErr == "" {
		return "none resolved yet"
	}
	return r.resErr
}

// addrs returns the known gateways, highest weight first (tests, logs).
func (r *router) addrs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, len(r.gws))
	for i, g := range r.gws {
		out[i] = g.addr
	}
	return out
}
