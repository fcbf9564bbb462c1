package chaos_test

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

	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
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

// herd is a whole herd in this process, on port 0, each node behind its
// chaos route proxy.
type herd struct {
	t    testing.TB
	topo map[string][]string
	net  *chaos.Net
	adv  map[string]string // node → its proxy's address
	mod  func(*node.Config)

	mu    sync.Mutex // guards nodes
	nodes map[string]*node.Node
}

func startHerd(t testing.TB, topo map[string][]string, mod func(*node.Config)) *herd {
	t.Helper()
	h := &herd{t: t, topo: topo, net: chaos.New(), adv: map[string]string{}, nodes: map[string]*node.Node{}, mod: mod}
	t.Cleanup(func() {
		for _, name := range h.live() {
			h.node(name).Close()
		}
		h.net.Close()
	})
	for name := range topo {
		addr, err := h.net.Listen(context.Background(), name, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h.adv[name] = addr
	}
	for name := range topo {
		h.start(name)
	}
	h.waitRoutes(20 * time.Second)
	return h
}

func (h *herd) node(name string) *node.Node {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nodes[name]
}

func (h *herd) start(name string) {
	h.t.Helper()
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.Neighbors = h.topo[name]
	cfg.Places = zeroPlaces{}
	cfg.NATS.ClusterAdvertise = h.adv[name]
	for _, nb := range h.topo[name] {
		cfg.NATS.Routes = append(cfg.NATS.Routes, h.adv[nb])
	}
	if h.mod != nil {
		h.mod(&cfg)
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
	if err := h.net.SetNode(name, n.NATS().ClusterAddr(), n.NATS().NATS().ID()); err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.nodes[name] = n
	h.mu.Unlock()
}

func (h *herd) stop(name string) {
	h.t.Helper()
	h.mu.Lock()
	n := h.nodes[name]
	delete(h.nodes, name)
	h.mu.Unlock()
	h.net.SetNode(name, "", "")
	if err := n.Close(); err != nil {
		h.t.Error(err)
	}
}

func (h *herd) live() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.nodes))
}

// wantPeers is the route peers a live node should have: every other live
// node whose link to it is not cut (NATS routes are a full mesh).
func (h *herd) wantPeers(name string) []string {
	cut := map[[2]string]bool{}
	for _, e := range h.net.Cuts() {
		cut[e] = true
		cut[[2]string{e[1], e[0]}] = true
	}
	var want []string
	for _, other := range h.live() {
		if other != name && !cut[[2]string{name, other}] {
			want = append(want, other)
		}
	}
	return want
}

// waitRoutes polls until every live node's route peers are what the cuts
// allow, and returns how long that took.
func (h *herd) waitRoutes(within time.Duration) time.Duration {
	h.t.Helper()
	start := time.Now()
	for {
		ok := true
		var bad string
		for _, name := range h.live() {
			if got, want := h.node(name).NATS().Peers(), h.wantPeers(name); !slices.Equal(got, want) {
				ok, bad = false, fmt.Sprintf("%s has peers %v, want %v", name, got, want)
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			h.t.Fatalf("routes not as expected after %s: %s", within, bad)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// iamat sends one IAMAT and returns the AT line.
func (h *herd) iamat(name, client, tm string) string {
	h.t.Helper()
	c, err := net.Dial("tcp", h.node(name).ClientAddr())
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "IAMAT %s +1+1 %s\n", client, tm)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "AT "+name+" ") {
		h.t.Fatalf("IAMAT at %s: %q, %v", name, line, err)
	}
	return strings.TrimSuffix(line, "\n")
}

func lines(n *node.Node) map[string]string {
	out := map[string]string{}
	n.Store().Range(func(r record.Record) bool {
		out[r.Client()] = r.Line
		return true
	})
	return out
}

// waitConverged polls until every named node holds exactly want, and
// returns how long that took.
func (h *herd) waitConverged(want map[string]string, within time.Duration, names ...string) time.Duration {
	h.t.Helper()
	start := time.Now()
	for _, name := range names {
		for !maps.Equal(lines(h.node(name)), want) {
			if time.Since(start) > within {
				got := lines(h.node(name))
				missing, wrong := 0, 0
				for c, l := range want {
					if g, ok := got[c]; !ok {
						missing++
					} else if g != l {
						wrong++
					}
				}
				h.t.Fatalf("%s after %s: holds %d records, %d missing, %d not the newest (want %d)",
					name, within, len(got), missing, wrong, len(want))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// newest folds AT lines into the newest record per client.
func newest(t testing.TB, into map[string]string, ls ...string) {
	t.Helper()
	for _, l := range ls {
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
