// Package node is one herd node: the client protocol server, the record
// store, the Places provider, and the wiring of the embedded NATS server and
// the flood bus.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/server"
	"github.com/herdhq/herd/node/store"
)

// Errors of Validate and the lifecycle, in one block.
var (
	ErrInvalidConfig = errors.New("invalid node config")
	ErrStarted       = errors.New("node already started")
)

// Config of one node.
type Config struct {
	// Name is the node's name: NATS server name and flood subject token.
	Name string
	// Neighbors are the node's configured neighbors: the flood topology.
	Neighbors []string
	// NATS configures the embedded server. Name is set from Name; a nil
	// Logger means the node's.
	NATS embeddednats.Config
	// Client configures the client protocol server. Name, Store, Places
	// and Stored are set by the node; a nil Logger means the node's.
	Client server.Config
	// Places answers WHATSAT.
	Places places.Provider
	// Bus tunes the flood. Name, Neighbors, Conn and Store are set by the
	// node; a nil Logger means the node's.
	Bus    bus.Config
	Logger *slog.Logger
}

// DefaultConfig returns a node on loopback and free ports. Name and Places
// must be set, and NATS.Routes for a herd of more than one node.
func DefaultConfig() Config {
	nc := embeddednats.DefaultConfig()
	nc.Logger = nil // the node's Logger
	cc := server.DefaultConfig()
	cc.Logger = nil
	bc := bus.DefaultConfig()
	bc.Logger = nil
	return Config{NATS: nc, Client: cc, Bus: bc, Logger: slog.New(slog.DiscardHandler)}
}

// Validate checks c; errors name the field.
func (c Config) Validate() error {
	if !record.ValidName(c.Name) {
		return fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	}
	if c.Places == nil {
		return fmt.Errorf("%w: Places is nil", ErrInvalidConfig)
	}
	if c.Logger == nil {
		return fmt.Errorf("%w: Logger is nil", ErrInvalidConfig)
	}
	if err := c.natsConfig().Validate(); err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	if err := c.clientConfig(store.New(), nil).Validate(); err != nil {
		return fmt.Errorf("Client: %w", err)
	}
	return nil
}

func (c Config) natsConfig() embeddednats.Config {
	n := c.NATS
	n.Name = c.Name
	if n.Logger == nil {
		n.Logger = c.logger()
	}
	return n
}

// logger is the node's logger with the node's name on every line.
func (c Config) logger() *slog.Logger { return c.Logger.With("node", c.Name) }

func (c Config) clientConfig(st *store.Store, stored func(record.Record)) server.Config {
	s := c.Client
	s.Name, s.Store, s.Places, s.Stored = c.Name, st, c.Places, stored
	if s.Logger == nil {
		s.Logger = c.logger()
	}
	return s
}

// Node is one running herd node.
type Node struct {
	cfg   Config
	store *store.Store

	mu      sync.Mutex // guards the fields below and serializes Start/Close
	started bool
	closed  bool
	nats    *embeddednats.Server
	conn    *nats.Conn
	bus     *bus.Bus
	client  *server.Server
	peers   *peerWatch // tells the bus when a neighbor's route comes up
}

// New validates cfg. It does no I/O.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, store: store.New()}, nil
}

// Start starts the embedded NATS server, subscribes the bus and opens the
// client port. It returns once all of them are listening; the cluster may
// still be forming (see WaitClusterFormed). On error everything started is
// closed again.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return ErrStarted
	}
	n.started = true
	defer func() {
		if err != nil {
			n.closeLocked()
		}
	}()
	if n.nats, err = embeddednats.New(n.cfg.natsConfig()); err != nil {
		return fmt.Errorf("configure nats: %w", err)
	}
	if err = n.nats.Start(ctx); err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	// A node's own connection must never give up on its server.
	if n.conn, err = n.nats.Connect(nats.MaxReconnects(-1)); err != nil {
		return fmt.Errorf("connect to own nats: %w", err)
	}
	bc := n.cfg.Bus
	bc.Name, bc.Neighbors, bc.Conn, bc.Store = n.cfg.Name, n.cfg.Neighbors, n.conn, n.store
	if bc.Logger == nil {
		bc.Logger = n.cfg.logger()
	}
	if n.bus, err = bus.New(bc); err != nil {
		return fmt.Errorf("configure bus: %w", err)
	}
	if err = n.bus.Start(ctx); err != nil {
		return fmt.Errorf("start bus: %w", err)
	}
	n.peers = watchPeers(n.cfg.Neighbors, n.nats.Peers, n.bus.NeighborUp)
	if n.client, err = server.New(n.cfg.clientConfig(n.store, n.bus.Publish)); err != nil {
		return fmt.Errorf("configure client server: %w", err)
	}
	if err = n.client.Start(ctx); err != nil {
		return fmt.Errorf("start client server: %w", err)
	}
	return nil
}

// Close stops the client port, the bus and the NATS server, in that order,
// and waits for their goroutines. It is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closeLocked()
}

func (n *Node) closeLocked() error {
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	if n.client != nil {
		errs = append(errs, n.client.Close())
	}
	n.peers.stop()
	if n.bus != nil {
		errs = append(errs, n.bus.Close())
	}
	if n.conn != nil {
		n.conn.Close()
	}
	if n.nats != nil {
		errs = append(errs, n.nats.Close())
	}
	return errors.Join(errs...)
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Store is the node's record store.
func (n *Node) Store() *store.Store { return n.store }

// ClientAddr is the client port's address, once started.
func (n *Node) ClientAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil || n.client.Addr() == nil {
		return ""
	}
	return n.client.Addr().String()
}

// NATS is the embedded NATS server, once started.
func (n *Node) NATS() *embeddednats.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nats
}

// WaitClusterFormed waits until the embedded server has routes to peers
// other servers.
func (n *Node) WaitClusterFormed(ctx context.Context, peers int) error {
	ns := n.NATS()
	if ns == nil {
		return fmt.Errorf("wait cluster formed: node not started")
	}
	return ns.WaitClusterFormed(ctx, peers)
}
