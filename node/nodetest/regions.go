package nodetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// WithRegions spreads the herd over regions (node → region; every node
// must be listed): the nodes of a region form one NATS cluster named after
// it, with routes only inside it, and the regions join through gateways on
// port 0, each node dialling the gateways of the nodes started before it
// in other regions (NATS dials back the rest). Neighbors may be in other
// regions. Chaos (WithChaos) cuts routes, inside a region.
func WithRegions(regions map[string]string) Option {
	return func(h *Herd) { h.regions = maps.Clone(regions) }
}

// Region is node name's region ("" without WithRegions).
func (h *Herd) Region(name string) string { return h.regions[name] }

// sameRegion reports whether a and b share a region (always, without
// WithRegions).
func (h *Herd) sameRegion(a, b string) bool { return h.regions[a] == h.regions[b] }

// regionConfig makes cfg a node of its region: its cluster, its gateway
// (where it listened before, on a restart), the other regions' known
// gateways, and routes only to the neighbors of its region. h.mu is held.
func (h *Herd) regionConfig(name string, cfg *node.Config) {
	if h.regions == nil {
		return
	}
	own := h.regions[name]
	cfg.Herd.Regions = maps.Clone(h.regions)
	cfg.NATS.ClusterName = own
	cfg.NATS.GatewayAddr = "127.0.0.1:0"
	if addr, ok := h.gateway[name]; ok {
		cfg.NATS.GatewayAddr = addr
	}
	byRegion := map[string][]string{}
	for _, n := range slices.Sorted(maps.Keys(h.regions)) {
		if r := h.regions[n]; r != own {
			byRegion[r] = byRegion[r] // every other region, known or not
			if addr, ok := h.gateway[n]; ok {
				byRegion[r] = append(byRegion[r], addr)
			}
		}
	}
	for _, r := range slices.Sorted(maps.Keys(byRegion)) {
		cfg.NATS.Regions = append(cfg.NATS.Regions, embeddednats.Region{Name: r, Gateways: byRegion[r]})
	}
	cfg.NATS.Routes = nil
	for _, nb := range h.Topo[name] {
		if addr, ok := h.route[nb]; ok && h.regions[nb] == own {
			cfg.NATS.Routes = append(cfg.NATS.Routes, addr)
		}
	}
}

// waitRegions waits, with regions, until every running node delivers to
// every other region and reaches each running neighbor (its flood and sync
// subscriptions known across the gateway).
func (h *Herd) waitRegions(ctx context.Context) {
	h.t.Helper()
	if h.regions == nil {
		return
	}
	for _, name := range h.Live() {
		n := h.Node(name)
		if err := n.NATS().WaitGatewaysFormed(ctx); err != nil {
			h.t.Fatalf("%s: %v", name, err)
		}
		for _, nb := range h.Topo[name] {
			if h.Node(nb) == nil || h.sameRegion(name, nb) {
				continue
			}
			wait.Check(h.t, regionStartTimeout, name+" reaching "+nb+" through its gateway", func() error {
				if !slices.Contains(n.Reachable(), nb) {
					return fmt.Errorf("%s's subscriptions not known to %s's gateway to %s", nb, name, h.regions[nb])
				}
				return nil
			})
		}
	}
}

// regionStartTimeout bounds a node's wait for its neighbors in other
// regions in WaitFormed (gateways are first dialled a second after start).
const regionStartTimeout = 20 * time.Second

// GatewayState is the state of the gateways between regions a and b in f.
func GatewayState(f live.Frame, a, b string) string {
	for _, g := range f.Gateways {
		if (g.A == a && g.B == b) || (g.A == b && g.B == a) {
			return g.State
		}
	}
	return ""
}
