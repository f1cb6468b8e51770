package otlprelayreceiver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-obs/vigil/internal/otlpwire"
	"github.com/vigil-obs/vigil/internal/testutil"
)

func testRouter(key string, addrs ...string) *router {
	cfg := createDefaultConfig()
	cfg.Forward.RoutingKey = key
	cfg.Forward.Endpoints = addrs
	return newRouter(cfg, func(addr, _ string) *gateway { return &gateway{addr: addr, client: &http.Client{}} }, nil)
}

// TestRendezvousSpreadsAndMovesOnlyTheGoneShare: over many agents (routing keys) each of three
// gateways owns a share; when one goes away only the agents it owned move, and each of them to
// the gateway that ranked second for it.
func TestRendezvousSpreadsAndMovesOnlyTheGoneShare(t *testing.T) {
	gws := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"}
	owners := map[string]int{}
	moved := 0
	for i := range 3000 {
		key := fmt.Sprintf("node-%d", i)
		r := testRouter(key, gws...)
		ranked := r.addrs()
		owner := r.pick().addr
		require.Equal(t, ranked[0], owner)
		owners[owner]++

		r.set([]string{gws[0], gws[2]}, "") // gateway 2 is gone
		after := r.pick().addr
		if owner == gws[1] {
			moved++
			require.Equal(t, ranked[1], after, "an agent of the gone gateway moves to its second choice")
		} else {
			require.Equal(t, owner, after, "an agent of a gateway that stays does not move")
		}
	}
	for _, g := range gws {
		require.InDelta(t, 1000, owners[g], 150, "share of %s: %v", g, owners)
	}
	require.Equal(t, owners[gws[1]], moved)
}

// TestRouterFailsOverAndComesBack: a gateway marked down is passed over for downFor; markDown
// says whether another gateway is up; when all are down pick still returns one.
func TestRouterFailsOverAndComesBack(t *testing.T) {
	r := testRouter("node-a", "127.0.0.1:1", "127.0.0.1:2")
	first, second := r.pick(), r.addrs()[1]
	require.True(t, r.markDown(first, errors.New("refused")), "the other gateway is up")
	require.Equal(t, second, r.pick().addr)
	require.False(t, r.markDown(r.pick(), errors.New("refused")), "no gateway is up")
	require.NotNil(t, r.pick())
	first.downUntil.Store(time.Now().Add(-time.Second).UnixNano()) // its down mark ended
	require.Equal(t, first, r.pick(), "the owner takes its share back")
}

// TestRouterResolvesDNS: a dns:/// endpoint's host is resolved at start and every
// resolve_interval; clients of addresses still resolved are kept; a failed resolution keeps the
// gateways known.
func TestRouterResolvesDNS(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Forward.Endpoint = "dns:///vigil-gateway-headless.vigil.svc:4317"
	cfg.Forward.ResolveInterval = 20 * time.Millisecond
	var (
		mu      sync.Mutex
		answer  = []string{"10.0.0.1", "10.0.0.2"}
		fail    error
		servers = map[string]string{}
	)
	r := newRouter(cfg, func(addr, serverName string) *gateway {
		mu.Lock()
		servers[addr] = serverName
		mu.Unlock()
		return &gateway{addr: addr, client: &http.Client{}}
	}, nil)
	r.resolve = func(context.Context, string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), answer...), fail
	}
	r.start()
	defer r.stop()
	require.ElementsMatch(t, []string{"10.0.0.1:4317", "10.0.0.2:4317"}, r.addrs())
	mu.Lock()
	require.Equal(t, "vigil-gateway-headless.vigil.svc", servers["10.0.0.1:4317"], "certificates are checked against the Service's name")
	kept := r.gws[0]
	answer = []string{"10.0.0.2", "10.0.0.3"}
	mu.Unlock()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := r.addrs(); len(got) != 2 || !contains(got, "10.0.0.3:4317") || contains(got, "10.0.0.1:4317") {
			return fmt.Errorf("gateways %v", got)
		}
		return nil
	})
	if kept.addr == "10.0.0.2:4317" {
		require.Contains(t, r.gws, kept, "the client of an address still resolved is kept")
	}
	mu.Lock()
	fail = errors.New("no such host")
	mu.Unlock()
	testutil.Eventually(t, 5*time.Second, func() error {
		if r.lastError() == "none resolved yet" {
			return errors.New("no failed resolution yet")
		}
		return nil
	})
	require.Len(t, r.addrs(), 2, "a failed resolution keeps the gateways")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRelayMovesToAnotherGateway: with two gateways, an agent's exports go to the one its
// routing key ranks first; when that one answers UNAVAILABLE (a gateway going away), the queued
// requests go to the other one at once, and every acknowledged record arrives.
func TestRelayMovesToAnotherGateway(t *testing.T) {
	a, aAddr := startSink(t, "")
	b, bAddr := startSink(t, "")
	env := startRelay(t, t.TempDir(), "", 0, func(c *Config) {
		c.Forward.Endpoint = ""
		c.Forward.Endpoints = []string{aAddr, bAddr}
		c.Retry = RetryConfig{InitialInterval: 10 * time.Second, MaxInterval: 10 * time.Second} // a backoff would fail the test
	})
	owner, other := a, b
	if testRouter("n1", aAddr, bAddr).pick().addr == bAddr {
		owner, other = b, a
	}
	conn := grpcConn(t, env.grpcAddr)
	send := func(prefix string) {
		_, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest(prefix, "svc", 10))
		require.NoError(t, err)
	}
	send("before")
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(owner.bodies()); n != 10 {
			return fmt.Errorf("the owner has %d records", n)
		}
		return nil
	})
	require.Empty(t, other.bodies(), "all of an agent's data goes to its gateway")

	owner.mu.Lock()
	owner.fail = status.Error(codes.Unavailable, "shutting down")
	owner.mu.Unlock()
	start := time.Now()
	send("after")
	testutil.Eventually(t, 5*time.Second, func() error {
		got := other.bodies()
		for i := range 10 {
			if len(got[fmt.Sprintf("after %d", i)]) != 1 {
				return fmt.Errorf("after %d not at the other gateway", i)
			}
		}
		return nil
	})
	require.Less(t, time.Since(start), 5*time.Second, "moved without waiting for a backoff")
}

// BenchmarkRouterPick is the routing cost of one export: the choice of its gateway among three
// (once per export of up to max_export_bytes, not per record).
func BenchmarkRouterPick(b *testing.B) {
	r := testRouter("node-a", "10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317")
	b.ReportAllocs()
	for b.Loop() {
		if r.pick() == nil {
			b.Fatal("no gateway")
		}
	}
}

// TestRouterLogsByCluster: with routing::logs cluster, the agents of a cluster send their logs
// to one gateway whatever their node, while their traces (not split: routing::traces node)
// follow each agent's node; a cluster's logs move to its second choice when that gateway is down.
func TestRouterLogsByCluster(t *testing.T) {
	gws := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"}
	logsAt, tracesAt := map[string]bool{}, map[string]bool{}
	var routers []*router
	for i := range 30 {
		cfg := createDefaultConfig()
		cfg.ResourceAttributes = map[string]string{"k8s.cluster.name": "prod-eu-1", "k8s.node.name": fmt.Sprintf("node-%d", i)}
		cfg.Forward.Endpoints = gws
		cfg.Forward.Routing.Logs, cfg.Forward.Routing.Traces = routeCluster, routeNode
		r := newRouter(cfg, func(addr, _ string) *gateway { return &gateway{addr: addr, client: &http.Client{}} }, nil)
		logsAt[r.pickFor(otlpwire.Logs).addr] = true
		tracesAt[r.pickFor(otlpwire.Traces).addr] = true
		routers = append(routers, r)
	}
	require.Len(t, logsAt, 1, "one gateway for the cluster's logs")
	require.Len(t, tracesAt, 3, "the agents' other data spreads by node")
	var owner string
	for a := range logsAt {
		owner = a
	}
	next := map[string]bool{}
	for _, r := range routers {
		for _, g := range r.gws {
			if g.addr == owner {
				r.markDown(g, errors.New("gone"))
			}
		}
		next[r.pickFor(otlpwire.Logs).addr] = true
	}
	require.Len(t, next, 1, "the cluster's logs move together")
	require.NotContains(t, next, owner)
}

// TestOwnerSpreadsAndMovesOnlyTheGoneShare: routing by item (owner) spreads trace IDs evenly
// over three gateways, and when one goes away only its items move, each to the gateway it
// ranks second.
func TestOwnerSpreadsAndMovesOnlyTheGoneShare(t *testing.T) {
	r := testRouter("node-a", "127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003")
	all := r.up(nil)
	shares := make([]int, 3)
	for i := range 30000 {
		var id [16]byte
		binary.BigEndian.PutUint64(id[8:], uint64(i))
		k := otlpwire.TraceKey(id[:])
		o := owner(all, k)
		shares[o]++
		rest := slices.Delete(slices.Clone(all), 1, 2) // gateway 1 is gone
		after := rest[owner(rest, k)]
		if o != 1 {
			require.Equal(t, all[o], after, "an item of a gateway that stays does not move")
		} else {
			second := all[0]
			if otlpwire.Mix(k^all[2].seed) > otlpwire.Mix(k^all[0].seed) {
				second = all[2]
			}
			require.Equal(t, second, after, "an item of the gone gateway moves to its second choice")
		}
	}
	for i, n := range shares {
		require.InDelta(t, 10000, n, 400, "share of gateway %d: %v", i, shares)
	}
}
