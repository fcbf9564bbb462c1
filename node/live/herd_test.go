package live_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/places"
)

// defaultTopology is the design's five-node herd.
var defaultTopology = map[string][]string{
	"Goloman": {"Hands", "Holiday", "Wilkes"},
	"Hands":   {"Goloman", "Wilkes"},
	"Holiday": {"Goloman", "Welsh", "Wilkes"},
	"Welsh":   {"Holiday"},
	"Wilkes":  {"Goloman", "Hands", "Holiday"},
}

// counters are one node's NodeStats, fed by the node's own hooks: its
// clock is read once per IAMAT, its Places provider once per WHATSAT, and
// the bus tells its observer of every flood record.
type counters struct {
	iamat, whatsat, floodIn, floodOut atomic.Uint64
}

type countingClock struct{ c *counters }

func (k countingClock) Now() time.Time { k.c.iamat.Add(1); return time.Now() }

type countingPlaces struct{ c *counters }

func (p countingPlaces) Nearby(context.Context, places.Query) (places.Response, error) {
	p.c.whatsat.Add(1)
	return places.Response{Status: places.StatusZeroResults}, nil
}

type floodObserver struct{ c *counters }

func (o floodObserver) Published(_ string, n int) { o.c.floodOut.Add(uint64(n)) }
func (o floodObserver) Received(string, bool)     { o.c.floodIn.Add(1) }
func (o floodObserver) Latency(time.Duration)     {}
func (o floodObserver) Dropped(int, string)       {}
func (o floodObserver) Invalid(string)            {}

var _ bus.Observer = floodObserver{}

// member is one running node with its live view served over HTTP.
type member struct {
	node *node.Node
	live *live.Live
	web  *httptest.Server
	c    *counters
}

// testHerd is a whole herd in this process on port 0, each node with its
// live view, as node/node.go will wire it.
type testHerd struct {
	t       testing.TB
	topo    map[string][]string
	names   []string
	edges   [][2]string
	members map[string]*member
	cluster map[string]string
	tune    func(*live.Config)
}

func startHerd(t testing.TB, topo map[string][]string, tune func(*live.Config)) *testHerd {
	t.Helper()
	h := &testHerd{t: t, topo: topo, members: map[string]*member{}, cluster: map[string]string{}, tune: tune}
	for n, nbrs := range topo {
		h.names = append(h.names, n)
		for _, nb := range nbrs {
			if n < nb {
				h.edges = append(h.edges, [2]string{n, nb})
			}
		}
	}
	slices.Sort(h.names)
	slices.SortFunc(h.edges, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	for _, name := range startOrder(topo) {
		h.start(name)
	}
	t.Cleanup(func() {
		for name := range h.members {
			h.stop(name)
		}
	})
	h.waitFormed()
	return h
}

// startOrder is breadth-first from the alphabetically first node, so each
// node after the first has a started neighbor to seed its routes from.
func startOrder(topo map[string][]string) []string {
	names := make([]string, 0, len(topo))
	for n := range topo {
		names = append(names, n)
	}
	slices.Sort(names)
	order := []string{names[0]}
	seen := map[string]bool{names[0]: true}
	for i := 0; i < len(order); i++ {
		nbrs := slices.Clone(topo[order[i]])
		slices.Sort(nbrs)
		for _, n := range nbrs {
			if !seen[n] {
				seen[n] = true
				order = append(order, n)
			}
		}
	}
	return order
}

func (h *testHerd) start(name string) *member {
	h.t.Helper()
	c := &counters{}
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.Neighbors = h.topo[name]
	cfg.Places = countingPlaces{c}
	cfg.Client.Clock = countingClock{c}
	cfg.Bus.Observe = floodObserver{c}
	for _, nb := range h.topo[name] {
		if addr, ok := h.cluster[nb]; ok {
			cfg.NATS.Routes = append(cfg.NATS.Routes, addr)
		}
	}
	if addr, ok := h.cluster[name]; ok {
		cfg.NATS.ClusterAddr = addr // a restart keeps its route address
	}
	n, err := node.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	conn, err := n.NATS().Connect()
	if err != nil {
		h.t.Fatal(err)
	}
	lc := live.DefaultConfig()
	lc.Name, lc.Nodes, lc.Edges = name, h.names, h.edges
	lc.Conn, lc.Routes = conn, n.NATS()
	lc.Stats = func() live.NodeStats {
		return live.NodeStats{
			Records: int64(n.Store().Len()), IAMAT: c.iamat.Load(), WHATSAT: c.whatsat.Load(),
			FloodIn: c.floodIn.Load(), FloodOut: c.floodOut.Load(),
		}
	}
	if h.tune != nil {
		h.tune(&lc)
	}
	l, err := live.New(lc)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	m := &member{node: n, live: l, web: httptest.NewServer(l.Handler()), c: c}
	h.cluster[name] = n.NATS().ClusterAddr()
	h.members[name] = m
	return m
}

// stop closes a node the way a node shuts down: its live view first (the
// browsers' streams end and the herd hears its goodbye), then the node.
func (h *testHerd) stop(name string) {
	h.t.Helper()
	m := h.members[name]
	if err := m.live.Close(); err != nil {
		h.t.Error(err)
	}
	m.web.Close()
	if err := m.node.Close(); err != nil {
		h.t.Error(err)
	}
	delete(h.members, name)
}

// waitFormed waits until every live node has a route to every other live
// node and sees every live neighbor's flood subscription.
func (h *testHerd) waitFormed() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, m := range h.members {
		if err := m.node.WaitClusterFormed(ctx, len(h.members)-1); err != nil {
			h.t.Fatalf("%s: %v", name, err)
		}
		for _, nb := range h.topo[name] {
			if _, ok := h.members[nb]; !ok {
				continue
			}
			if err := m.node.NATS().WaitInterest(ctx, bus.Subject(nb)); err != nil {
				h.t.Fatalf("%s waiting for %s's subscription: %v", name, nb, err)
			}
		}
	}
}

// iamat sends one IAMAT to a node and returns its AT reply.
func (h *testHerd) iamat(name, client string, lat, lon float64) string {
	h.t.Helper()
	c, err := net.Dial("tcp", h.members[name].node.ClientAddr())
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "IAMAT %s %s %d.000000001\n", client, location(lat, lon), time.Now().Unix())
	c.(*net.TCPConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "AT "+name+" ") {
		h.t.Fatalf("IAMAT at %s: reply %q, %v", name, line, err)
	}
	return strings.TrimSuffix(line, "\n")
}

// location formats ISO 6709 as the protocol wants it: +34.068930-118.445127.
func location(lat, lon float64) string { return fmt.Sprintf("%+.6f%+.6f", lat, lon) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// atomicUint is a counter a test changes while a node reads it.
type atomicUint struct{ v atomic.Uint64 }

func (a *atomicUint) load() uint64   { return a.v.Load() }
func (a *atomicUint) store(n uint64) { a.v.Store(n) }
