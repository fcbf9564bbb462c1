package live_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/nodetest"
)

// regionsTopology is three regions of two nodes, the regions a ring:
// E1–E2, U1–U2, A1–A2 inside, E2–U1, U2–A1, A2–E1 between.
var regionsTopology = map[string][]string{
	"E1": {"E2", "A2"}, "E2": {"E1", "U1"},
	"U1": {"U2", "E2"}, "U2": {"U1", "A1"},
	"A1": {"A2", "U2"}, "A2": {"A1", "E1"},
}

var regionOf = map[string]string{"E1": "eu", "E2": "eu", "U1": "us", "U2": "us", "A1": "ap", "A2": "ap"}

// startRegions is startHerd over three regions.
func startRegions(t testing.TB) *nodetest.Herd {
	t.Helper()
	return nodetest.Start(t, regionsTopology, nodetest.WithRegions(regionOf),
		nodetest.WithConfig(func(name string, c *node.Config) { nodetest.Monitor(name, c) }))
}

// regionsUp reports whether f draws every node, edge and gateway up.
func regionsUp(f live.Frame) bool {
	return nodetest.AllUp(f) && len(f.Gateways) == 3 && !slices.ContainsFunc(f.Gateways, func(g live.GatewayView) bool { return g.State != live.StateUp })
}

// TestLive_regions: a page in eu shows the three regions and their nodes,
// every node (their heartbeats cross the gateways), every edge (those
// between regions up through the gateways) and the three gateways up; a
// hop between regions is drawn; when ap goes away its gateways are drawn
// down and so are the edges into it, while eu–us stays up.
func TestLive_regions(t *testing.T) {
	h := startRegions(t)
	s := nodetest.OpenStream(t, h.Node("E1").MonitorURL())
	name, data := s.Next()
	var hello live.Hello
	if err := json.Unmarshal(data, &hello); name != "hello" || err != nil {
		t.Fatalf("first event %s %s: %v", name, data, err)
	}
	want := []live.Region{{Name: "ap", Nodes: []string{"A1", "A2"}}, {Name: "eu", Nodes: []string{"E1", "E2"}}, {Name: "us", Nodes: []string{"U1", "U2"}}}
	if !slices.EqualFunc(hello.Regions, want, func(a, b live.Region) bool { return a.Name == b.Name && slices.Equal(a.Nodes, b.Nodes) }) {
		t.Errorf("hello regions %+v, want %+v", hello.Regions, want)
	}
	f := s.FrameUntil("every node, edge and gateway up", 10*time.Second, regionsUp)
	if nv := nodetest.NodeState(f, "U2"); nv.Region != "us" || !slices.Equal(nv.Gateways, []string{"ap", "eu"}) {
		t.Errorf("U2 drawn in %q with gateways %v, want us with [ap eu]", nv.Region, nv.Gateways)
	}

	iamat(h, "A2", "from-ap", -33.87, 151.21)
	s.FrameUntil("the hop A2→E1 across the gateway", 5*time.Second, func(f live.Frame) bool {
		return slices.ContainsFunc(f.Hops, func(hp live.Hop) bool { return hp.From == "A2" && hp.To == "E1" && hp.Origin == "A2" })
	})

	h.Stop("A1")
	h.Stop("A2")
	f = s.FrameUntil("ap's gateways down", 10*time.Second, func(f live.Frame) bool {
		return nodetest.GatewayState(f, "eu", "ap") == live.StateDown && nodetest.GatewayState(f, "us", "ap") == live.StateDown
	})
	if got := nodetest.GatewayState(f, "eu", "us"); got != live.StateUp {
		t.Errorf("gateway eu–us %s with only ap gone, want up", got)
	}
	for _, e := range [][2]string{{"E1", "A2"}, {"U2", "A1"}} {
		if got := nodetest.EdgeState(f, e[0], e[1]); got == live.StateUp {
			t.Errorf("edge %v drawn %s with ap gone", e, got)
		}
	}
	if got := nodetest.EdgeState(f, "E2", "U1"); got != live.StateUp {
		t.Errorf("edge E2–U1 drawn %s, want up", got)
	}
}
