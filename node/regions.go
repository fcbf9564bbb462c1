package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
)

// Regions (protocol.md "Regions"). In a herd of several regions a node's
// NATS server has routes only to the nodes of its own region; a neighbor
// in another region is reached through the server's gateway to that
// region. NATS forwards across a gateway only what the other region has
// told it interest in, so such a neighbor counts as reachable once its
// region has told this node's server of the neighbor's own flood and sync
// subscriptions: from then on a flood message or a sync request reaches
// it. Until then they are dropped, as on a cut route, and the neighbor
// coming into reach starts an anti-entropy exchange (watchPeers).

// regionOf is the region of node name: Herd.Regions says, else this
// node's own.
func (c Config) regionOf(name string) string {
	if r := c.Herd.Regions[name]; r != "" {
		return r
	}
	return c.NATS.ClusterName
}

// validateRegions checks that Herd.Regions, if set, puts this node in its
// NATS server's cluster: a node in the wrong cluster would take the
// wrong neighbors for remote.
func (c Config) validateRegions() error {
	if r := c.Herd.Regions[c.Name]; r != "" && r != c.NATS.ClusterName {
		return fmt.Errorf("%w: Herd.Regions puts %s in region %q but its NATS.ClusterName is %q", ErrInvalidConfig, c.Name, r, c.NATS.ClusterName)
	}
	return nil
}

// reachable returns the nodes this node delivers to now: its route peers
// and the neighbors in other regions whose subjects their region told
// this node's gateway. Sorted.
func (n *Node) reachable() []string {
	up := n.nats.Peers()
	own := n.cfg.NATS.ClusterName
	for _, nb := range n.neighbors() {
		r := n.cfg.regionOf(nb)
		if r == own || slices.Contains(up, nb) {
			continue
		}
		if n.nats.RegionSubscribed(r, bus.Subject(nb), antientropy.Subject(nb)) {
			up = append(up, nb)
		}
	}
	slices.Sort(up)
	return up
}

// Reachable returns the nodes this node delivers to now: the nodes of its
// region it has a route to, and its neighbors in other regions that its
// gateways reach (see the Regions note above). Sorted.
func (n *Node) Reachable() []string { return n.reachable() }

// reachPoll is how often WaitNeighbors looks.
const reachPoll = 10 * time.Millisecond

// WaitNeighbors waits until every neighbor is reachable: what the flood
// publishes for it from then on is delivered. In a herd of several
// regions this is the wait that matters before a cross-region neighbor
// may be written to; WaitClusterFormed covers routes and gateways, not
// the neighbors' own subscriptions.
func (n *Node) WaitNeighbors(ctx context.Context) error {
	t := time.NewTicker(reachPoll)
	defer t.Stop()
	for {
		up := n.reachable()
		var missing []string
		for _, nb := range n.neighbors() {
			if !slices.Contains(up, nb) {
				missing = append(missing, nb)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for neighbors %v: %w", missing, ctx.Err())
		case <-t.C:
		}
	}
}
