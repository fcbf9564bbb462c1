package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/node/places"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// defaultTopology is the design's five-node herd.
var defaultTopology = map[string][]string{
	"Goloman": {"Hands", "Holiday", "Wilkes"},
	"Hands":   {"Goloman", "Wilkes"},
	"Holiday": {"Goloman", "Welsh", "Wilkes"},
	"Welsh":   {"Holiday"},
	"Wilkes":  {"Goloman", "Hands", "Holiday"},
}

type zeroPlaces struct{}

func (zeroPlaces) Nearby(context.Context, places.Query) (places.Response, error) {
	return places.Response{Status: places.StatusZeroResults}, nil
}

// testHerd is a whole herd in this process on port 0.
type testHerd struct {
	t     *testing.T
	topo  map[string][]string
	nodes map[string]*Node
	// cluster addresses, kept so a stopped node restarts on the same one
	cluster map[string]string
	// mod, if set, adjusts each node's config before New.
	mod func(name string, c *Config)
}

// startHerd starts every node of topo, each seeding routes to the
// neighbors already started (their ports are known only then), and waits
// until the route mesh is complete and every flood subscription is visible
// across it.
func startHerd(t *testing.T, topo map[string][]string) *testHerd {
	t.Helper()
	return startHerdWith(t, topo, nil)
}

// startHerdWith is startHerd with mod applied to every node's config.
func startHerdWith(t *testing.T, topo map[string][]string, mod func(name string, c *Config)) *testHerd {
	t.Helper()
	h := &testHerd{t: t, topo: topo, nodes: map[string]*Node{}, cluster: map[string]string{}, mod: mod}
	for _, name := range startOrder(topo) {
		h.start(name)
	}
	t.Cleanup(func() {
		for _, n := range h.nodes {
			if err := n.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	h.waitFormed()
	return h
}

// startOrder is breadth-first from the alphabetically first node, so each
// node after the first has a started neighbor to seed from.
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

func (h *testHerd) start(name string) *Node {
	h.t.Helper()
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.Neighbors = h.topo[name]
	cfg.Places = zeroPlaces{}
	// No periodic anti-entropy rounds: a round that lands mid-flood may
	// repair and relay a record, an extra hop the flood-rule tests would
	// rightly reject. Syncs at start and on a neighbor's return still run.
	cfg.Bus.SyncInterval = 0
	for _, nb := range h.topo[name] {
		if addr, ok := h.cluster[nb]; ok {
			cfg.NATS.Routes = append(cfg.NATS.Routes, addr)
		}
	}
	if addr, ok := h.cluster[name]; ok {
		cfg.NATS.ClusterAddr = addr // a restart keeps its route address
	}
	if h.mod != nil {
		h.mod(name, &cfg)
	}
	n, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	h.cluster[name] = n.NATS().ClusterAddr()
	h.nodes[name] = n
	return n
}

func (h *testHerd) stop(name string) {
	h.t.Helper()
	if err := h.nodes[name].Close(); err != nil {
		h.t.Fatal(err)
	}
	delete(h.nodes, name)
}

// waitFormed waits until every live node has a route to every other live
// node and sees every live neighbor's flood subscription.
func (h *testHerd) waitFormed() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, n := range h.nodes {
		if err := n.WaitClusterFormed(ctx, len(h.nodes)-1); err != nil {
			h.t.Fatalf("%s: %v", name, err)
		}
		for _, nb := range h.topo[name] {
			if _, live := h.nodes[nb]; !live {
				continue
			}
			if err := n.NATS().WaitInterest(ctx, bus.Subject(nb)); err != nil {
				h.t.Fatalf("%s waiting for %s's subscription: %v", name, nb, err)
			}
		}
	}
}

// send writes lines to a node's client port and returns its replies (it
// half-closes, so it reads until the node closes).
func (h *testHerd) send(name string, lines ...string) string {
	h.t.Helper()
	c, err := net.Dial("tcp", h.nodes[name].ClientAddr())
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

// iamat sends an IAMAT and returns the AT line the node answered.
func (h *testHerd) iamat(name, client, loc, tm string) string {
	h.t.Helper()
	reply := h.send(name, fmt.Sprintf("IAMAT %s %s %s", client, loc, tm))
	if !strings.HasPrefix(reply, "AT "+name+" ") {
		h.t.Fatalf("IAMAT at %s: reply %q", name, reply)
	}
	return strings.TrimSuffix(reply, "\n")
}

// waitRecord waits until every named node holds line as client's record.
func (h *testHerd) waitRecord(client, line string, names ...string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, name := range names {
		for {
			r, _ := h.nodes[name].Store().Get(client)
			if r.Line == line {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("%s holds %q for %s, want %q", name, r.Line, client, line)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func (h *testHerd) live() []string {
	var names []string
	for n := range h.nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
