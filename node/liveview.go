package node

import (
	"context"
	"fmt"

	"github.com/herdhq/herd/node/live"
)

// Topology is the whole herd as the live view draws it. Empty: the node
// and its neighbors only.
type Topology struct {
	Nodes []string
	Edges [][2]string
	// Regions maps every node to its region in a herd of several regions
	// (regions.go); nil: one region. The node takes the neighbors it
	// lists in another region as reached through a gateway.
	Regions map[string]string
}

// topology is c.Herd, or the node and its neighbors when unset.
func (c Config) topology() Topology {
	if len(c.Herd.Nodes) > 0 {
		return c.Herd
	}
	t := Topology{Nodes: append([]string{c.Name}, c.Neighbors...)}
	for _, nb := range c.Neighbors {
		t.Edges = append(t.Edges, [2]string{c.Name, nb})
	}
	return t
}

// liveStats are the node's counters for its heartbeat: the metrics'
// totals, fed by the same hooks as /metrics, and the store's size.
func (n *Node) liveStats() live.NodeStats {
	t := n.metrics.Totals()
	return live.NodeStats{
		Records: int64(n.store.Len()),
		IAMAT:   t.IAMAT, WHATSAT: t.WHATSAT,
		FloodIn: t.FloodIn, FloodOut: t.FloodOut,
		Repairs: t.Repaired,
	}
}

// startLive serves the live view at / of the monitor port. It needs the
// metrics (its counts), which a node with a monitor port always has.
func (n *Node) startLive(ctx context.Context) error {
	if n.metrics == nil {
		return nil
	}
	var err error
	if n.live, err = live.New(n.parts.live, n.conn, n.nats); err != nil {
		return fmt.Errorf("configure live view: %w", err)
	}
	if err = n.live.Start(ctx); err != nil {
		return fmt.Errorf("start live view: %w", err)
	}
	if err = n.monitor.Handle("/", n.live.Handler()); err != nil {
		return fmt.Errorf("mount live view: %w", err)
	}
	return nil
}

// Live is the node's live view, once started (nil without a monitor
// port).
func (n *Node) Live() *live.Live {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.live
}
