// Package nodetest is the one in-process test herd: whole herds of real
// nodes (embedded NATS servers, real TCP ports, all on port 0) in one test
// process, as the tests of node, node/chaos and node/live, and anything
// else that needs a herd, run them. Optionally every node runs with chaos
// on (node/chaos), so that a test can cut, partition and heal routes and
// stop and start nodes while the herd runs, through the chaos service as
// herd chaos does.
package nodetest

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places"
)

// DefaultTopology is the design's five-node herd: node → neighbors.
var DefaultTopology = map[string][]string{
	"Goloman": {"Hands", "Holiday", "Wilkes"},
	"Hands":   {"Goloman", "Wilkes"},
	"Holiday": {"Goloman", "Welsh", "Wilkes"},
	"Welsh":   {"Holiday"},
	"Wilkes":  {"Goloman", "Hands", "Holiday"},
}

// Line3 is the herd A – B – C.
var Line3 = map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}

// ZeroPlaces answers every search with ZERO_RESULTS.
type ZeroPlaces struct{}

// Nearby answers ZERO_RESULTS.
func (ZeroPlaces) Nearby(context.Context, places.Query) (places.Response, error) {
	return places.Response{Status: places.StatusZeroResults}, nil
}

var _ places.Provider = ZeroPlaces{}

// Topology is topo as the live view draws it: every node, and every edge
// once.
func Topology(topo map[string][]string) node.Topology {
	t := node.Topology{Nodes: slices.Sorted(maps.Keys(topo))}
	for _, n := range t.Nodes {
		for _, nb := range slices.Sorted(slices.Values(topo[n])) {
			if n < nb {
				t.Edges = append(t.Edges, [2]string{n, nb})
			}
		}
	}
	return t
}

// Option tunes a Herd.
type Option func(*Herd)

// WithConfig adjusts every node's config before New (restarts too).
func WithConfig(mod func(name string, c *node.Config)) Option {
	return func(h *Herd) { h.mod = mod }
}

// WithChaos runs every node with chaos on (Herd.Chaos).
func WithChaos() Option {
	return func(h *Herd) { h.Chaos = &Chaos{h: h, cuts: map[[2]string]bool{}, stopped: map[string]bool{}} }
}

// Monitor gives every node a monitor port (metrics, health, live view).
func Monitor(_ string, c *node.Config) { c.MonitorAddr = "127.0.0.1:0" }

// FloodOnly turns periodic anti-entropy off: what arrives arrived by the
// flood (or by the exchange a node's start or a route coming up runs).
func FloodOnly(_ string, c *node.Config) { c.AntiEntropy.Interval = 0 }

// Herd is a whole herd in this process.
type Herd struct {
	t    testing.TB
	Topo map[string][]string
	// Chaos drives the herd's chaos services when it runs WithChaos, else
	// nil.
	Chaos *Chaos
	mod   func(string, *node.Config)

	mu    sync.Mutex            // guards nodes, route and nats
	nodes map[string]*node.Node // running nodes
	// route and nats are each node's route and NATS client addresses:
	// where it listened (a restart listens there again).
	route map[string]string
	nats  map[string]string
	// regions is each node's region (WithRegions, regions.go), nil for
	// one region; gateway each node's gateway address once started.
	regions map[string]string
	gateway map[string]string
}

// Start starts every node of topo and waits until the herd is formed: a
// route between every two nodes and every neighbor's flood subscription
// seen. Each node seeds routes to the neighbors started before it (their
// ports are known only then); with chaos, once all run, every node is
// given every other as a peer, as herd nodes are, so that a cut node is
// never dialled by gossip. Every node is closed at the end of the test.
func Start(t testing.TB, topo map[string][]string, opts ...Option) *Herd {
	t.Helper()
	h := &Herd{t: t, Topo: topo, nodes: map[string]*node.Node{}, route: map[string]string{}, nats: map[string]string{}, gateway: map[string]string{}}
	for _, o := range opts {
		o(h)
	}
	t.Cleanup(func() {
		for _, name := range h.Live() {
			if err := h.Node(name).Close(); err != nil {
				t.Error(err)
			}
		}
	})
	for _, name := range startOrder(topo) {
		h.StartNode(name)
	}
	if h.Chaos != nil {
		members := h.members()
		for _, name := range h.Live() {
			n := h.Node(name)
			h.mu.Lock()
			peers := h.peers(name)
			h.mu.Unlock()
			if _, _, err := n.NATS().SetPeers(peers); err != nil {
				t.Fatal(err)
			}
			n.Chaos().SetHerd(members)
		}
	}
	h.WaitFormed()
	return h
}

// ChaosPassword is the system user's password in a herd WithChaos.
const ChaosPassword = "nodetest-system-password"

// peers are the route peers of node name: every other node of its
// region, at its route address once known. h.mu is held.
func (h *Herd) peers(name string) []embeddednats.Peer {
	var ps []embeddednats.Peer
	for _, other := range slices.Sorted(maps.Keys(h.Topo)) {
		if other == name || !h.sameRegion(name, other) {
			continue
		}
		addr, ok := h.route[other]
		if !ok {
			addr = "127.0.0.1:0" // not started yet: it dials this one
		}
		ps = append(ps, embeddednats.Peer{Name: other, Route: addr})
	}
	return ps
}

// members are the herd's nodes with their NATS addresses, for the chaos
// services.
func (h *Herd) members() []chaos.Member {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ms []chaos.Member
	for _, name := range slices.Sorted(maps.Keys(h.Topo)) {
		ms = append(ms, chaos.Member{Name: name, NATS: h.nats[name]})
	}
	return ms
}

// startOrder is breadth-first from the alphabetically first node, so each
// node after the first has a started neighbor to seed from.
func startOrder(topo map[string][]string) []string {
	names := slices.Sorted(maps.Keys(topo))
	order := []string{names[0]}
	seen := map[string]bool{names[0]: true}
	for i := 0; i < len(order); i++ {
		for _, n := range slices.Sorted(slices.Values(topo[order[i]])) {
			if !seen[n] {
				seen[n] = true
				order = append(order, n)
			}
		}
	}
	for _, n := range names { // nodes no edge reaches
		if !seen[n] {
			order = append(order, n)
		}
	}
	return order
}

// Config is the config StartNode gives node name: its neighbors, the
// routes, the whole herd for the live view, ZeroPlaces, and the
// WithConfig adjustments.
func (h *Herd) Config(name string) node.Config {
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.Neighbors = h.Topo[name]
	cfg.Herd = Topology(h.Topo)
	cfg.Places = ZeroPlaces{}
	h.mu.Lock()
	for _, nb := range h.Topo[name] {
		if addr, ok := h.route[nb]; ok {
			cfg.NATS.Routes = append(cfg.NATS.Routes, addr)
		}
	}
	if addr, ok := h.route[name]; ok {
		cfg.NATS.ClusterAddr = addr // a restart keeps its route address
	}
	if addr, ok := h.nats[name]; ok {
		cfg.NATS.ClientAddr = addr
	}
	if h.Chaos != nil {
		cfg.Chaos.Enabled = true
		cfg.NATS.SystemPassword = ChaosPassword
		cfg.NATS.PeersOnly = true
		cfg.NATS.Peers = h.peers(name)
	}
	h.regionConfig(name, &cfg)
	h.mu.Unlock()
	if h.Chaos != nil {
		cfg.Chaos.Herd = h.members()
	}
	if h.mod != nil {
		h.mod(name, &cfg)
	}
	return cfg
}

// StartNode starts (or restarts) node name and returns it once listening.
func (h *Herd) StartNode(name string) *node.Node {
	h.t.Helper()
	n, err := node.New(h.Config(name))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	h.mu.Lock()
	h.route[name] = n.NATS().ClusterAddr()
	h.nats[name] = strings.TrimPrefix(n.NATS().ClientURL(), "nats://")
	h.nodes[name] = n
	if h.regions != nil {
		h.gateway[name] = n.NATS().GatewayAddr()
	}
	h.mu.Unlock()
	if h.Chaos != nil {
		h.Chaos.started(name)
	}
	return n
}

// Stop closes node name; its in-memory records are gone.
func (h *Herd) Stop(name string) {
	h.t.Helper()
	h.mu.Lock()
	n := h.nodes[name]
	delete(h.nodes, name)
	h.mu.Unlock()
	if err := n.Close(); err != nil {
		h.t.Error(err)
	}
}

// Node is the running node name, or nil.
func (h *Herd) Node(name string) *node.Node {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nodes[name]
}

// Live lists the running nodes, sorted.
func (h *Herd) Live() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.nodes))
}

// cut reports whether the route between a and b is cut, or either is
// stopped, by chaos.
func (h *Herd) cut(a, b string) bool {
	return h.Chaos != nil && h.Chaos.isCut(a, b)
}

// WantPeers is the route peers a running node should have: every other
// running node of its region whose link to it is not cut (NATS routes are
// a full mesh inside a region).
func (h *Herd) WantPeers(name string) []string {
	var want []string
	for _, other := range h.Live() {
		if other != name && !h.cut(name, other) && h.sameRegion(name, other) {
			want = append(want, other)
		}
	}
	return want
}

// WaitFormed waits until every running node's route peers are what the
// cuts allow, its gateways (WithRegions) deliver to every other region,
// and it sees the flood subscription of every running neighbor it has a
// route or a gateway to.
func (h *Herd) WaitFormed() {
	h.t.Helper()
	h.WaitRoutes(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), regionStartTimeout)
	defer cancel()
	h.waitRegions(ctx)
	for _, name := range h.Live() {
		n := h.Node(name)
		for _, nb := range h.Topo[name] {
			if h.Node(nb) == nil || h.cut(name, nb) {
				continue
			}
			if err := n.NATS().WaitInterest(ctx, bus.Subject(nb)); err != nil {
				h.t.Fatalf("%s waiting for %s's subscription: %v", name, nb, err)
			}
		}
	}
}

// WaitRoutes polls until every running node's route peers are what the
// cuts allow, and returns how long that took.
func (h *Herd) WaitRoutes(within time.Duration) time.Duration {
	h.t.Helper()
	return wait.Check(h.t, within, "routes as the cuts allow", func() error {
		for _, name := range h.Live() {
			n := h.Node(name)
			if n == nil {
				return fmt.Errorf("%s stopped meanwhile", name)
			}
			if got, want := n.NATS().Peers(), h.WantPeers(name); !slices.Equal(got, want) {
				return fmt.Errorf("%s has peers %v, want %v", name, got, want)
			}
		}
		return nil
	})
}

// Send writes lines to a node's client port, half-closes, and returns
// every reply.
func (h *Herd) Send(name string, lines ...string) string {
	h.t.Helper()
	c, err := net.Dial("tcp", h.Node(name).ClientAddr())
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		h.t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// IAMAT sends one IAMAT to a node and returns the AT line it answered.
func (h *Herd) IAMAT(name, client, loc, tm string) string {
	h.t.Helper()
	reply := h.Send(name, fmt.Sprintf("IAMAT %s %s %s", client, loc, tm))
	if !strings.HasPrefix(reply, "AT "+name+" ") {
		h.t.Fatalf("IAMAT at %s: reply %q", name, reply)
	}
	return strings.TrimSuffix(reply, "\n")
}

// WaitRecord waits until every named node holds line as client's record.
func (h *Herd) WaitRecord(client, line string, names ...string) {
	h.t.Helper()
	for _, name := range names {
		wait.Check(h.t, wait.Timeout, name+" holding "+client+"'s record", func() error {
			if r, _ := h.Node(name).Store().Get(client); r.Line != line {
				return fmt.Errorf("holds %q, want %q", r.Line, line)
			}
			return nil
		})
	}
}

// Lines is every record a node holds: client → AT line.
func Lines(n *node.Node) map[string]string {
	out := map[string]string{}
	n.Store().Range(func(r record.Record) bool {
		out[r.Client()] = r.Line
		return true
	})
	return out
}

// WaitConverged polls until every named node holds exactly want (no
// record missing, none older, none more), and returns how long it took.
func (h *Herd) WaitConverged(want map[string]string, within time.Duration, names ...string) time.Duration {
	h.t.Helper()
	start := time.Now()
	for _, name := range names {
		wait.Check(h.t, within-time.Since(start), name+" converged", func() error {
			got := Lines(h.Node(name))
			if maps.Equal(got, want) {
				return nil
			}
			missing, wrong := 0, 0
			for c, l := range want {
				if g, ok := got[c]; !ok {
					missing++
				} else if g != l {
					wrong++
				}
			}
			return fmt.Errorf("holds %d records, %d missing, %d not the newest (want %d)", len(got), missing, wrong, len(want))
		})
	}
	return time.Since(start)
}

// Newest folds AT lines into the newest record per client.
func Newest(t testing.TB, into map[string]string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		r, err := record.Parse([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		old, ok := into[r.Client()]
		if !ok {
			into[r.Client()] = l
			continue
		}
		o, _ := record.Parse([]byte(old))
		if record.Newer(r, o) {
			into[r.Client()] = l
		}
	}
}
