package node

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/server"
)

// doors are the node's client port as the chaos service stops and starts
// it: closed with every client connection while the node is stopped (its
// port held: holdPort), and opened again on the address it had.
type doors struct{ n *Node }

var _ chaos.Doors = doors{}

// PauseClients closes the client port and its connections.
func (d doors) PauseClients() error {
	n := d.n
	n.mu.Lock()
	if n.closed || n.client == nil {
		n.mu.Unlock()
		return nil
	}
	c := n.client
	if a := c.Addr(); a != nil {
		n.pausedAddr = a.String()
	}
	n.client = nil
	err := c.Close()
	if err == nil && n.pausedAddr != "" && n.heldPort == nil {
		// Best effort: without the hold, the port is free meanwhile.
		if n.heldPort, err = holdPort(n.pausedAddr); err != nil {
			n.parts.log.Warn("chaos: the stopped client port may be taken meanwhile", "err", err)
			err = nil
		}
	}
	n.mu.Unlock()
	return err
}

// ResumeClients opens the client port again where it was.
func (d doors) ResumeClients(ctx context.Context) error {
	n := d.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrNotRunning
	}
	if n.client != nil {
		return nil
	}
	cfg := n.parts.client
	if n.pausedAddr != "" {
		cfg.Addr = n.pausedAddr
	}
	c, err := server.New(cfg, n.core)
	if err != nil {
		return fmt.Errorf("configure client server: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start client server: %w", err)
	}
	n.client = c
	n.releasePort()
	return nil
}

// releasePort closes the hold on the stopped client port. n.mu is held.
func (n *Node) releasePort() {
	if n.heldPort != nil {
		n.heldPort.Close()
		n.heldPort = nil
	}
}

// startChaos serves the chaos service on a connection of its own in the
// NATS system account. n.mu is held.
func (n *Node) startChaos() error {
	if n.chaos == nil {
		return nil
	}
	var err error
	if n.chaosConn, err = n.nats.ConnectSystem(nats.MaxReconnects(-1), nats.Name(n.cfg.Name+"-chaos")); err != nil {
		return fmt.Errorf("connect chaos service to own nats: %w", err)
	}
	if err = n.chaos.Start(n.chaosConn); err != nil {
		return fmt.Errorf("start chaos service: %w", err)
	}
	return nil
}

// closeChaos stops the chaos service and waits for its requests in
// flight. Safe without the lock, more than once.
func (n *Node) closeChaos() {
	if n.chaos == nil {
		return
	}
	n.chaos.Close()
}

// Chaos is the node's chaos service, or nil when Config.Chaos is off.
func (n *Node) Chaos() *chaos.Service { return n.chaos }
