package live

import (
	"fmt"
	"slices"

	"github.com/herdhq/herd/bus/record"
)

// Regions. In a herd of several regions (Config.Regions) the page groups
// the nodes by region and draws a gateway edge between every two regions,
// coloured by the state of the gateways between them. Each node's
// heartbeat lists the regions its gateways deliver to now (Beat.Gateways,
// from Config.Gateways); a neighbor edge between two regions is up when
// each end's gateways deliver to the other's region and both ends are up
// — the flood then crosses it — just as an edge inside a region is up
// when each end has a route to the other.

// Gateway states: StateUp, StateHalf (some of the two regions' live nodes
// do not deliver to the other region), StateDown (none does, or no node of
// one region is up) and StateUnknown (no heartbeat yet).

// Region is one region of the herd and its nodes, in Config.Nodes order.
type Region struct {
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
}

// GatewayView is the state of the gateways between regions A and B.
type GatewayView struct {
	A     string `json:"a"`
	B     string `json:"b"`
	State string `json:"state"`
}

// validateRegions checks Config.Regions: empty, or a region for every node
// of Nodes and only for them, each a NATS token.
func (c Config) validateRegions() error {
	if len(c.Regions) == 0 {
		return nil
	}
	for _, n := range c.Nodes {
		if r, ok := c.Regions[n]; !ok || !record.ValidName(r) {
			return fmt.Errorf("%w: Regions[%s] %q is not a region name", ErrInvalidConfig, n, r)
		}
	}
	for n := range c.Regions {
		if !slices.Contains(c.Nodes, n) {
			return fmt.Errorf("%w: Regions names %q, not in Nodes", ErrInvalidConfig, n)
		}
	}
	return nil
}

// regions groups Config.Nodes by region, regions in the order of their
// first node. Nil unless there are several.
func (c Config) regions() []Region {
	var rs []Region
	for _, n := range c.Nodes {
		r := c.Regions[n]
		i := slices.IndexFunc(rs, func(x Region) bool { return x.Name == r })
		if i < 0 {
			rs = append(rs, Region{Name: r})
			i = len(rs) - 1
		}
		rs[i].Nodes = append(rs[i].Nodes, n)
	}
	if len(rs) < 2 {
		return nil
	}
	return rs
}

// gatewaysLocked adds to peers (node → the nodes it reaches, for the
// edges) the up nodes of the regions each up node's gateways deliver to,
// fills in every node's region and gateways in f, and returns the state
// of the gateways between every two regions. v.mu is held.
func (v *view) gatewaysLocked(f *Frame, peers map[string][]string) []GatewayView {
	regions := v.cfg.regions()
	if regions == nil {
		return []GatewayView{}
	}
	up := map[string]bool{}
	for _, nv := range f.Nodes {
		up[nv.Name] = nv.State == StateUp
	}
	delivers := map[string][]string{} // up node → regions it delivers to
	for i, nv := range f.Nodes {
		f.Nodes[i].Region = v.cfg.Regions[nv.Name]
		f.Nodes[i].Gateways = []string{}
		if !up[nv.Name] {
			continue
		}
		gws := v.nodes[nv.Name].beat.Gateways
		f.Nodes[i].Gateways = slices.Clone(gws)
		delivers[nv.Name] = gws
		reach := slices.Clone(peers[nv.Name])
		for _, m := range v.cfg.Nodes {
			if up[m] && slices.Contains(gws, v.cfg.Regions[m]) {
				reach = append(reach, m)
			}
		}
		peers[nv.Name] = reach
	}
	var out []GatewayView
	for i, a := range regions {
		for _, b := range regions[i+1:] {
			gv := GatewayView{A: a.Name, B: b.Name, State: StateDown}
			var live [2]int
			ok, unknown := 0, false
			for k, side := range [][2]Region{{a, b}, {b, a}} {
				for _, n := range side[0].Nodes {
					switch {
					case up[n]:
						live[k]++
						if slices.Contains(delivers[n], side[1].Name) {
							ok++
						}
					case v.nodeState[n] == StateUnknown:
						unknown = true
					}
				}
			}
			switch {
			case live[0] > 0 && live[1] > 0 && ok == live[0]+live[1]:
				gv.State = StateUp
			case ok > 0:
				gv.State = StateHalf
			case unknown:
				gv.State = StateUnknown
			}
			out = append(out, gv)
		}
	}
	return out
}
