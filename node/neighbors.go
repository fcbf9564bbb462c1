package node

import (
	"fmt"
	"slices"
)

// neighbors returns the current neighbors; the slice is never modified.
func (n *Node) neighbors() []string { return *n.nbrs.Load() }

// Neighbors returns the node's current neighbors.
func (n *Node) Neighbors() []string { return slices.Clone(n.neighbors()) }

// SetNeighbors changes the node's flood topology while it runs, for adding
// a node to the herd or removing one without restarting anybody: from now
// on records are flooded to, accepted from, and anti-entropy runs with
// exactly these neighbors, and an added neighbor is synced with at once.
// Routes need no change: NATS already meshes every node of the cluster.
// Metrics keep the neighbor labels they were made with (others count as
// "other"), and the live view keeps the topology it started with.
func (n *Node) SetNeighbors(names []string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started || n.closed || n.bus == nil {
		return ErrNotRunning
	}
	old := n.neighbors()
	if err := n.bus.SetNeighbors(names); err != nil {
		return fmt.Errorf("set neighbors: %w", err)
	}
	names = slices.Clone(names)
	n.nbrs.Store(&names)
	for _, nb := range names {
		if !slices.Contains(old, nb) {
			n.ae.NeighborUp(nb)
		}
	}
	return nil
}
