// Package node is one herd node: the client protocol server, the record
// store, the Places provider, and the wiring of the embedded NATS server and
// the flood bus.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/metrics"
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

	// Observability (observe.go).

	// MonitorAddr, if set, is host:port of the node's HTTP port:
	// /metrics, /healthz and the NATS monitoring endpoints. Port 0 picks
	// a free port.
	MonitorAddr string
	// Metrics are the node's metrics. Nil: the node makes its own when
	// MonitorAddr is set, and keeps none otherwise. Callers that wire a
	// hook before New (the Places upstream hook) make them themselves.
	Metrics *metrics.Metrics
	// LogFile, if set, is a file the node also logs to at debug level:
	// every client input and output and connection opened and closed.
	LogFile string
	// LogFileFormat is "text" (the default when empty) or "json".
	LogFileFormat string
	// WebsocketAddr, if set, is host:port of a NATS WebSocket listener
	// (for browsers). Without TLS it must be on loopback.
	WebsocketAddr string
	// Herd is the whole herd's topology, drawn by the live view at / of
	// the monitor port (liveview.go).
	Herd Topology
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
	return c.validateObservability()
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
	// metrics is nil when the node keeps none; log is the node's logger,
	// the log file's too once Start opened it.
	metrics *metrics.Metrics
	log     *slog.Logger

	mu      sync.Mutex // guards the fields below and serializes Start/Close
	started bool
	closed  bool
	nats    *embeddednats.Server
	conn    *nats.Conn
	bus     *bus.Bus
	client  *server.Server
	obs     observability
	peers   *peerWatch // tells the bus when a neighbor's route comes up

	// nbrs is the current neighbor list: cfg.Neighbors until SetNeighbors
	// swaps it (reload of the herd file).
	nbrs atomic.Pointer[[]string]
}

// New validates cfg. It does no I/O.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, store: store.New(), metrics: cfg.Metrics, log: cfg.logger()}
	nbrs := slices.Clone(cfg.Neighbors)
	n.nbrs.Store(&nbrs)
	if n.metrics == nil && cfg.MonitorAddr != "" {
		n.metrics = metrics.New(metrics.Config{Node: cfg.Name, Neighbors: cfg.Neighbors})
	}
	n.wireMetrics()
	return n, nil
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
	if err = n.openLogFile(); err != nil {
		return err
	}
	if n.nats, err = embeddednats.New(n.natsConfig()); err != nil {
		return fmt.Errorf("configure nats: %w", err)
	}
	if err = n.nats.Start(ctx); err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	// A node's own connection must never give up on its server.
	if n.conn, err = n.nats.Connect(nats.MaxReconnects(-1), n.natsErrorHandler()); err != nil {
		return fmt.Errorf("connect to own nats: %w", err)
	}
	bc := n.cfg.Bus
	bc.Name, bc.Neighbors, bc.Conn, bc.Store = n.cfg.Name, n.cfg.Neighbors, n.conn, n.store
	if bc.Logger == nil {
		bc.Logger = n.log
	}
	if bc.Observe == nil && n.metrics != nil {
		bc.Observe = n.metrics
	}
	if n.bus, err = bus.New(bc); err != nil {
		return fmt.Errorf("configure bus: %w", err)
	}
	if err = n.bus.Start(ctx); err != nil {
		return fmt.Errorf("start bus: %w", err)
	}
	n.peers = watchPeers(n.neighbors, n.nats.Peers, n.bus.NeighborUp)
	if n.client, err = server.New(n.clientConfig()); err != nil {
		return fmt.Errorf("configure client server: %w", err)
	}
	if err = n.client.Start(ctx); err != nil {
		return fmt.Errorf("start client server: %w", err)
	}
	return n.startObservability(ctx)
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
	errs = append(errs, n.closeObservability()...)
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
	errs = append(errs, n.closeLogFile())
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
