// Package chaos cuts and heals the NATS routes between herd nodes running
// on one host, so that users and tests can partition a live herd.
//
// NATS gossip hands every server the advertised route address of every
// other, so a proxy on one link would not cut it: the two servers would
// find each other by gossip. Here every node advertises a proxy in front
// of its own cluster port (embeddednats ClusterAdvertise) and is seeded
// with its neighbors' proxies, so every route to a node passes its proxy.
// The proxy tells the dialing node apart by the name (server ID) in the
// route's CONNECT line and refuses or
// closes the connections of a cut link. Route TLS is not supported (the
// proxy must read the CONNECT line).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
)

// Errors, in one block.
var (
	ErrUnknownNode = errors.New("unknown node")
	ErrSameNode    = errors.New("a link needs two different nodes")
	ErrClosed      = errors.New("chaos net closed")
	ErrExists      = errors.New("node already has a proxy")
)

// Net is the set of route proxies of one herd and the links cut between
// them. The zero value is not usable; call New.
type Net struct {
	mu      sync.Mutex // guards every field below
	proxies map[string]*proxy
	ids     map[string]string // NATS server ID → node name
	cuts    map[[2]string]bool
	closed  bool

	bytes atomic.Int64 // route bytes carried, both ways
}

// New returns a Net with no proxies. It does no I/O.
func New() *Net {
	return &Net{proxies: map[string]*proxy{}, ids: map[string]string{}, cuts: map[[2]string]bool{}}
}

func edge(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Listen starts the route proxy of node on addr (host:port; port 0 picks
// one) and returns its address: what the node must advertise as its
// cluster address and its neighbors must be seeded with.
func (n *Net) Listen(ctx context.Context, node, addr string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return "", ErrClosed
	}
	if _, ok := n.proxies[node]; ok {
		return "", fmt.Errorf("listen for %s: %w", node, ErrExists)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen for %s on %s: %w", node, addr, err)
	}
	p := &proxy{node: node, net: n, ln: ln, conns: map[*link]struct{}{}}
	n.proxies[node] = p
	p.wg.Add(1)
	go p.serve()
	return ln.Addr().String(), nil
}

// SetNode tells the proxy of node where the node's real cluster port is,
// and which NATS server ID it has (a restarted node has a new one).
// An empty clusterAddr marks the node stopped: its proxy refuses routes.
func (n *Net) SetNode(node, clusterAddr, serverID string) error {
	n.mu.Lock()
	p, ok := n.proxies[node]
	if ok && serverID != "" {
		n.ids[serverID] = node
	}
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("set %s: %w", node, ErrUnknownNode)
	}
	p.mu.Lock()
	p.target = clusterAddr
	p.mu.Unlock()
	if clusterAddr == "" {
		p.closeAll()
	}
	return nil
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	var ls []*link
	for l := range p.conns {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

func (n *Net) nameOf(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ids[id]
}

func (n *Net) isCut(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cuts[edge(a, b)]
}

func (n *Net) check(nodes ...string) error {
	for _, x := range nodes {
		if _, ok := n.proxies[x]; !ok {
			return fmt.Errorf("%q: %w", x, ErrUnknownNode)
		}
	}
	return nil
}

// Cut cuts the route between a and b: their route connections are closed
// and redials refused until Heal. The nodes stay up.
func (n *Net) Cut(a, b string) error {
	if a == b {
		return ErrSameNode
	}
	n.mu.Lock()
	if err := n.check(a, b); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("cut: %w", err)
	}
	n.cuts[edge(a, b)] = true
	pa, pb := n.proxies[a], n.proxies[b]
	n.mu.Unlock()
	pa.closePeer(b)
	pb.closePeer(a)
	return nil
}

// Heal lets a and b route to each other again; NATS redials within about
// a second.
func (n *Net) Heal(a, b string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.check(a, b); err != nil {
		return fmt.Errorf("heal: %w", err)
	}
	delete(n.cuts, edge(a, b))
	return nil
}

// Partition cuts every link between nodes of different groups (and heals
// none). Nodes in no group keep their links.
func (n *Net) Partition(groups ...[]string) error {
	n.mu.Lock()
	for _, g := range groups {
		if err := n.check(g...); err != nil {
			n.mu.Unlock()
			return fmt.Errorf("partition: %w", err)
		}
	}
	n.mu.Unlock()
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					if a == b {
						return fmt.Errorf("partition: %q in two groups: %w", a, ErrSameNode)
					}
					if err := n.Cut(a, b); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// HealAll heals every cut link.
func (n *Net) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
}

// Cuts lists the cut links, sorted.
func (n *Net) Cuts() [][2]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out [][2]string
	for e := range n.cuts {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y [2]string) int {
		if c := cmpStr(x[0], y[0]); c != 0 {
			return c
		}
		return cmpStr(x[1], y[1])
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Bytes is the number of route bytes the proxies carried, both directions.
func (n *Net) Bytes() int64 { return n.bytes.Load() }

// Close stops every proxy and closes its connections. It is safe to call
// more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	ps := make([]*proxy, 0, len(n.proxies))
	for _, p := range n.proxies {
		ps = append(ps, p)
	}
	n.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	return nil
}
