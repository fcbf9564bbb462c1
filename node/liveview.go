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

// startLive serves the live view at / of the monitor port. It needs the
// monitor (where it is served) and the metrics (its counts).
func (n *Node) startLive(ctx context.Context) error {
	if n.obs.monitor == nil || n.metrics == nil {
		return nil
	}
	topo := n.cfg.topology()
	lc := live.DefaultConfig()
	lc.Name, lc.Nodes, lc.Edges = n.cfg.Name, topo.Nodes, topo.Edges
	lc.Conn, lc.Routes, lc.Logger = n.conn, n.nats, n.log
	lc.Stats = func() live.NodeStats {
		t := n.metrics.Totals()
		return live.NodeStats{
			Records: int64(n.store.Len()),
			IAMAT:   t.IAMAT, WHATSAT: t.WHATSAT,
			FloodIn: t.FloodIn, FloodOut: t.FloodOut,
			Repairs: t.Repaired,
		}
	}
	var err error
	if n.obs.live, err = live.New(lc); err != nil {
		return fmt.Errorf("configure live view: %w", err)
	}
	if err = n.obs.live.Start(ctx); err != nil {
		return fmt.Errorf("start live view: %w", err)
	}
	if err = n.obs.monitor.Handle("/", n.obs.live.Handler()); err != nil {
		return fmt.Errorf("mount live view: %w", err)
	}
	return nil
}
