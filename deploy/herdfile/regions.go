package herdfile

import (
	"fmt"
	"slices"
	"strings"
)

// Regions. A herd may span several regions (protocol.md "Regions"): the
// nodes of one region form one NATS cluster named after it, their routes
// stay inside it, and the regions join as a NATS supercluster through
// gateways, each node dialling the gateway addresses of the other
// regions' nodes. Neighbors may be in another region: the flood and
// anti-entropy reach them through the gateway. A node without a region
// is in the region named after the herd, so a file that names no region
// is one region, as before regions existed.

// Region returns the region of node name: its region field, else the
// herd's name. Empty if there is no such node.
func (c Config) Region(name string) string {
	n, ok := c.Node(name)
	if !ok {
		return ""
	}
	return c.regionOf(n)
}

func (c Config) regionOf(n Node) string {
	if n.Region != "" {
		return n.Region
	}
	return c.Herd
}

// Regions returns the region names in the order their first node is
// listed.
func (c Config) Regions() []string {
	var rs []string
	for _, n := range c.Nodes {
		if r := c.regionOf(n); !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// RegionNodes returns the names of the nodes of region, in file order.
func (c Config) RegionNodes(region string) []string {
	var names []string
	for _, n := range c.Nodes {
		if c.regionOf(n) == region {
			names = append(names, n.Name)
		}
	}
	return names
}

// RegionMap returns every node's region: node name → region.
func (c Config) RegionMap() map[string]string {
	m := make(map[string]string, len(c.Nodes))
	for _, n := range c.Nodes {
		m[n.Name] = c.regionOf(n)
	}
	return m
}

// Gateways returns the gateway addresses of region's nodes that have one,
// in file order.
func (c Config) Gateways(region string) []string {
	var gws []string
	for _, n := range c.Nodes {
		if c.regionOf(n) == region && n.Gateway != "" {
			gws = append(gws, n.Gateway)
		}
	}
	return gws
}

// validateRegions checks the region and gateway fields: region names are
// NATS tokens (they become cluster names), no two differ only in case
// (one region written two ways would become two clusters), and in a herd
// of several regions every node has a gateway address (a node without
// one can neither send to other regions nor be reached from them).
func (c Config) validateRegions(p *problems) {
	first := map[string]int{} // lower-cased region -> first node index naming it
	for i, n := range c.Nodes {
		if n.Region == "" {
			continue
		}
		field := fmt.Sprintf("nodes[%d].region", i)
		if !isToken(n.Region) {
			p.add(field, ErrBadRegion, "%q", n.Region)
			continue
		}
		key := strings.ToLower(n.Region)
		j, seen := first[key]
		switch {
		case !seen:
			first[key] = i
		case c.regionOf(c.Nodes[j]) != n.Region:
			p.add(field, ErrDuplicateRegion, "%q and %q (nodes[%d]) differ only in case: write one region one way", n.Region, c.regionOf(c.Nodes[j]), j)
		}
	}
	// The herd's name is the region of nodes without one.
	if j, seen := first[strings.ToLower(c.Herd)]; seen && c.Nodes[j].Region != c.Herd && slices.ContainsFunc(c.Nodes, func(n Node) bool { return n.Region == "" }) {
		p.add(fmt.Sprintf("nodes[%d].region", j), ErrDuplicateRegion,
			"%q and the herd's name %q (the region of nodes without one) differ only in case", c.Nodes[j].Region, c.Herd)
	}
	regions := c.Regions()
	if len(regions) < 2 {
		return
	}
	for i, n := range c.Nodes {
		if n.Gateway == "" {
			p.add(fmt.Sprintf("nodes[%d].gateway", i), ErrMissingGateway,
				"%s is in region %s of a herd of %d regions (%s): every node needs a gateway address", n.Name, c.regionOf(n), len(regions), strings.Join(regions, ", "))
		}
	}
}
