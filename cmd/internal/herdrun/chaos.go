package herdrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
)

// Errors of the chaos herd, in one block.
var (
	ErrNodeRunning = errors.New("node is running")
	ErrNodeStopped = errors.New("node is stopped")
)

// ChaosHerd is a herd of one herd file running in this process with every
// node behind a chaos route proxy (package node/chaos), so that routes can
// be cut and healed and nodes stopped and started while it runs (herd up
// --chaos). Each node's proxy listens on the node's cluster address from
// the herd file and is what the node advertises; the node's own route
// listener moves to a free loopback port.
type ChaosHerd struct {
	hf  herdfile.Config
	ps  *Providers
	log *slog.Logger
	net *chaos.Net
	adv map[string]string // node → its proxy's address

	mu        sync.Mutex // guards nodes and closed, serializes Stop/Start/Close
	nodes     map[string]*node.Node
	closed    bool
	closeErr  error
	closeOnce sync.Once
}

// StartChaos starts the proxies and then every node of hf, and returns
// once every node is listening.
func StartChaos(ctx context.Context, hf herdfile.Config, ps *Providers, log *slog.Logger) (*ChaosHerd, error) {
	h := &ChaosHerd{hf: hf, ps: ps, log: log, net: chaos.New(), adv: map[string]string{}, nodes: map[string]*node.Node{}}
	for _, name := range hf.Names() {
		n, _ := hf.Node(name)
		addr, err := h.net.Listen(ctx, name, n.Cluster)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("chaos proxy: %w", err)
		}
		h.adv[name] = addr
	}
	for _, name := range hf.Names() {
		if err := h.Start(ctx, name); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// Net is the herd's chaos network: Cut, Heal, Partition, HealAll, Cuts.
func (h *ChaosHerd) Net() *chaos.Net { return h.net }

// Start starts a stopped node (every node at StartChaos).
func (h *ChaosHerd) Start(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("start %s: %w", name, chaos.ErrClosed)
	}
	if _, ok := h.nodes[name]; ok {
		return fmt.Errorf("start %s: %w", name, ErrNodeRunning)
	}
	cfg, err := nodeConfig(h.hf, name, h.ps, h.log)
	if err != nil {
		return err
	}
	cfg.NATS.ClusterAddr = "127.0.0.1:0"
	cfg.NATS.ClusterAdvertise = h.adv[name]
	cfg.NATS.Routes = nil
	for i, p := range cfg.NATS.Peers { // every route goes through the proxies
		cfg.NATS.Peers[i].Route = h.adv[p.Name]
	}
	n, err := node.New(cfg)
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	if err := h.net.SetNode(name, n.NATS().ClusterAddr(), n.NATS().NATS().ID()); err != nil {
		n.Close()
		return err
	}
	h.nodes[name] = n
	return nil
}

// Stop stops a running node; its records, held in memory, are lost until
// anti-entropy brings them back when it starts again.
func (h *ChaosHerd) Stop(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.nodes[name]
	if !ok {
		if _, known := h.adv[name]; !known {
			return fmt.Errorf("stop %q: %w", name, chaos.ErrUnknownNode)
		}
		return fmt.Errorf("stop %s: %w", name, ErrNodeStopped)
	}
	delete(h.nodes, name)
	h.net.SetNode(name, "", "")
	return n.Close()
}

// Running lists the running nodes in herd file order.
func (h *ChaosHerd) Running() []*node.Node {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*node.Node
	for _, name := range h.hf.Names() {
		if n, ok := h.nodes[name]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Stopped lists the stopped nodes in herd file order.
func (h *ChaosHerd) Stopped() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.DeleteFunc(h.hf.Names(), func(n string) bool { _, ok := h.nodes[n]; return ok })
}

// ProxyAddr is the route address node advertises: its proxy's.
func (h *ChaosHerd) ProxyAddr(name string) string { return h.adv[name] }

// Close stops every node and the proxies. It is safe to call more than
// once.
func (h *ChaosHerd) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		var errs []error
		for _, n := range h.nodes {
			errs = append(errs, n.Close())
		}
		clear(h.nodes)
		h.mu.Unlock()
		errs = append(errs, h.net.Close())
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}
