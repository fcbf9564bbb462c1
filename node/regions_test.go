package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// regionsTopology is three regions of three nodes, each region a
// triangle, the regions a ring of one edge each: E1–U1, U3–A1, A3–E3.
var regionsTopology = map[string][]string{
	"E1": {"E2", "E3", "U1"}, "E2": {"E1", "E3"}, "E3": {"E1", "E2", "A3"},
	"U1": {"U2", "U3", "E1"}, "U2": {"U1", "U3"}, "U3": {"U1", "U2", "A1"},
	"A1": {"A2", "A3", "U3"}, "A2": {"A1", "A3"}, "A3": {"A1", "A2", "E3"},
}

var regionOf = map[string]string{
	"E1": "eu", "E2": "eu", "E3": "eu", "U1": "us", "U2": "us", "U3": "us", "A1": "ap", "A2": "ap", "A3": "ap",
}

// An IAMAT in one region reaches every node of the others through the
// gateways, hop by hop along the configured edges and by the flood rules;
// every node has routes only inside its region and reaches its neighbors
// in other regions; an observer in one region sees the hops of the
// others (its wildcard subscription is interest the gateways carry).
func TestHerd_regions(t *testing.T) {
	h := startRegions(t, regionsTopology)
	for _, name := range h.Live() {
		n := h.Node(name)
		if got, want := n.NATS().Peers(), h.WantPeers(name); !slices.Equal(got, want) {
			t.Errorf("%s has routes to %v, want only its region's %v", name, got, want)
		}
		for _, nb := range regionsTopology[name] {
			if !slices.Contains(n.Reachable(), nb) {
				t.Errorf("%s does not reach its neighbor %s", name, nb)
			}
		}
		if hz := n.Health(); hz.Status != node.HealthOK || len(hz.Missing) > 0 || len(hz.UnreachableRegions) > 0 || len(hz.UnreachablePeers) > 0 {
			t.Errorf("%s health %+v", name, hz)
		}
	}

	o := observe(t, h.Node("E2"))
	for _, name := range h.Live() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.Node(name).NATS().WaitInterest(ctx, "herd.at.x")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, origin := range []string{"E2", "U3", "A2"} {
		client := "regions-" + origin
		line := h.IAMAT(origin, client, "+1+1", "1621464827")
		h.WaitRecord(client, line, h.Live()...)
		var hops []hop
		wait.Check(t, 10*time.Second, "the whole flood of "+client, func() error {
			hops = o.carrying(line)
			return checkHops(regionsTopology, origin, hops)
		})
		crossed := 0
		for _, hp := range hops {
			if regionOf[hp.sender] != regionOf[hp.to] {
				crossed++
			}
		}
		// The ring: a record crosses two region borders one way round and
		// meets itself on the third edge, which it crosses both ways or
		// once (whoever relays first): 3 or 4 crossings, never more.
		if crossed < 3 || crossed > 4 {
			t.Errorf("%s's record crossed between regions %d times, want 3 or 4: %v", origin, crossed, hops)
		}
	}
}

// A node whose only neighbor is in another region catches up through the
// gateway when it restarts: with periodic anti-entropy off, by the
// exchange its neighbor coming into reach starts (or the retry of its own
// start exchange, which runs before its gateways are up and fails), a
// request and replies across the gateway.
func TestHerd_regions_catchUpAcrossGateway(t *testing.T) {
	topo := map[string][]string{"E1": {"E2", "U1"}, "E2": {"E1"}, "U1": {"E1"}}
	h := nodetest.Start(t, topo, nodetest.WithRegions(map[string]string{"E1": "eu", "E2": "eu", "U1": "us"}),
		nodetest.WithConfig(nodetest.FloodOnly))
	h.Stop("U1")
	line := h.IAMAT("E2", "while-us-down", "+2+2", "1621464828")
	h.WaitRecord("while-us-down", line, "E1", "E2")
	u1 := h.StartNode("U1")
	if r, ok := u1.Store().Get("while-us-down"); ok {
		t.Fatalf("U1 holds %q at start, before any exchange", r.Line)
	}
	h.WaitRecord("while-us-down", line, "U1")
	if hz := u1.Health(); len(hz.Missing) > 0 {
		t.Errorf("U1 misses %v after catching up", hz.Missing)
	}
}

// A region going away: its neighbors elsewhere are missing, the region is
// unreachable, and the other regions still flood to each other.
func TestHerd_regions_regionDown(t *testing.T) {
	h := startRegions(t, regionsTopology)
	for _, n := range []string{"A1", "A2", "A3"} {
		h.Stop(n)
	}
	// Each node sees its gateways to ap close in its own time: E2 too is
	// polled, until it says ap is unreachable and it is still ok (no
	// neighbor of its is in ap).
	wait.Within(t, 10*time.Second, "E3 and U3 to miss ap, and E2 (no neighbor in ap) to be ok with ap unreachable", func() bool {
		e2, e3, u3 := h.Node("E2").Health(), h.Node("E3").Health(), h.Node("U3").Health()
		return slices.Equal(e3.Missing, []string{"A3"}) && slices.Equal(e3.UnreachableRegions, []string{"ap"}) &&
			slices.Equal(u3.Missing, []string{"A1"}) && e3.Status == node.HealthUnavailable &&
			e2.Status == node.HealthOK && slices.Equal(e2.UnreachableRegions, []string{"ap"})
	})
	line := h.IAMAT("U2", "without-ap", "+3+3", "1621464829")
	h.WaitRecord("without-ap", line, "E1", "E2", "E3", "U1", "U3")
}

func startRegions(t *testing.T, topo map[string][]string, mods ...func(string, *node.Config)) *nodetest.Herd {
	t.Helper()
	return nodetest.Start(t, topo, nodetest.WithRegions(regionOf), nodetest.WithConfig(func(name string, c *node.Config) {
		nodetest.FloodOnly(name, c)
		for _, mod := range mods {
			mod(name, c)
		}
	}))
}
