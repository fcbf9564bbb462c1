// Package node is one herd node, and its composition root: New builds and
// validates the configuration of every part once, and Start runs them in
// order — the embedded NATS server (embeddednats), the flood (bus) and
// anti-entropy (bus/antientropy) on the node's in-process connection, the
// command core (node/core) over the record store (node/store) and the
// Places provider, and the two doors onto the core: the TCP client port
// (node/server) and the NATS micro service (node/service). With a monitor
// address it also serves metrics (node/metrics), health, NATS monitoring
// and the live view (node/live) on one HTTP port (node/monitor); with a
// log file, every client input and output (node/logfile); with chaos on,
// the chaos service (node/chaos) that cuts its routes and stops and
// starts it.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/metrics"
	"github.com/herdhq/herd/node/monitor"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/server"
	"github.com/herdhq/herd/node/service"
	"github.com/herdhq/herd/node/storage"
	"github.com/herdhq/herd/node/store"
)

// Errors of Validate and the lifecycle, in one block.
var (
	ErrInvalidConfig = errors.New("invalid node config")
	ErrStarted       = errors.New("node already started")
	// ErrNotRunning is returned by SetNeighbors on a node not started or
	// already closed.
	ErrNotRunning = errors.New("node not running")
)

// Config of one node. The sub-configs carry each part's settings; the
// node fills in what it owns — names, neighbors, loggers and the hooks
// between parts — so those fields of them are ignored.
type Config struct {
	// Name is the node's name: NATS server name and flood subject token.
	Name string
	// Neighbors are the node's configured neighbors: the flood topology.
	Neighbors []string
	// Places answers WHATSAT.
	Places places.Provider
	// PlacesStats, when set, is the resilience layer behind Places, whose
	// counters the metrics export.
	PlacesStats metrics.PlacesStats
	// Clock is the node's clock for IAMAT; nil: the system clock.
	Clock core.Clock
	// Logger is the node's log; nil discards. Every part logs through it,
	// with node=<Name> on every line.
	Logger *slog.Logger
	// NATSLogLevel is the least level of the embedded NATS server's lines
	// that reach Logger: its notices (a banner, every route up and down)
	// would bury the herd's own. The log file takes its notices anyway.
	NATSLogLevel slog.Level

	NATS        embeddednats.Config // Name and Logger are the node's
	Client      server.Config       // Logger and Observe are the node's
	Bus         bus.Config          // Name, Neighbors, Logger, Observe, Link are the node's
	AntiEntropy antientropy.Config  // Name, Logger, Observe are the node's
	Service     service.Config      // Node and Logger are the node's
	// Storage keeps the node's records on disk (durability.go). Its Dir
	// is the herd's storage directory: the node keeps its files in
	// Dir/<Name>/; empty (the default) keeps records in memory only.
	// Store, Logger and Observe are the node's.
	Storage storage.Config
	// Chaos, when Enabled, puts the routes behind the chaos gate and
	// serves `herd chaos` in the NATS system account (chaosnode.go).
	Chaos chaos.Config // Name and Logger are the node's

	// Observability (observe.go).

	// MonitorAddr, if set, is host:port of the node's HTTP port:
	// /metrics, /healthz, the NATS monitoring endpoints and the live view.
	// Port 0 picks a free port.
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
	return Config{
		NATSLogLevel: slog.LevelInfo,
		NATS:         embeddednats.DefaultConfig(),
		Client:       server.DefaultConfig(),
		Bus:          bus.DefaultConfig(),
		AntiEntropy:  antientropy.DefaultConfig(),
		Service:      service.DefaultConfig(),
		Storage:      defaultStorage(),
	}
}

// Validate checks c and every part's config it makes; errors name the
// field.
func (c Config) Validate() error {
	// The flood's link of a node that is never built nor dialled.
	_, err := c.parts(store.New(), (&Node{}).floodLink)
	return err
}

// Node is one running herd node.
type Node struct {
	cfg   Config
	parts parts // every part's config, built and validated by New
	store *store.Store
	// storage is nil when the node keeps records in memory only.
	storage *storage.Storage
	// metrics is nil when the node keeps none.
	metrics *metrics.Metrics
	nats    *embeddednats.Server

	mu      sync.Mutex // guards the fields below and serializes Start/Close
	started bool
	closed  bool
	// natsUp: StartNATS started the log file and the NATS server ahead
	// of Start.
	natsUp  bool
	conn    *nats.Conn
	bus     *bus.Bus
	ae      *antientropy.AntiEntropy
	core    *core.Core
	client  *server.Server
	svcConn *nats.Conn
	svc     *service.Service
	monitor *monitor.Server
	live    *live.Live
	peers   *peerWatch // tells anti-entropy when a neighbor's route comes up
	// chaos is the chaos service (nil when off), made by New; its
	// connection is the node's in the system account.
	chaos      *chaos.Service
	chaosConn  *nats.Conn
	pausedAddr string    // the client port's address while chaos stopped it
	heldPort   io.Closer // holds pausedAddr's port while stopped (holdPort)

	// nbrs is the current neighbor list: cfg.Neighbors until SetNeighbors
	// swaps it (reload of the herd file).
	nbrs atomic.Pointer[[]string]
	// closing is set when Close begins: the node's connection closing
	// then is no loss to warn of.
	closing atomic.Bool
	// lost are the neighbors whose route closed, to repair with once they
	// are back (peers.go).
	lost lostRoutes
}

// New builds every part's config from cfg and validates them all, so that
// a bad setting fails here rather than after anything started. It does no
// I/O.
func New(cfg Config) (*Node, error) {
	st := store.New()
	n := &Node{cfg: cfg, store: st, metrics: cfg.Metrics}
	p, err := cfg.parts(st, n.floodLink)
	if err != nil {
		return nil, err
	}
	n.parts = p
	n.parts.nats.OnRouteClosed = n.lost.closed
	if n.nats, err = embeddednats.New(n.parts.nats); err != nil {
		return nil, fmt.Errorf("NATS: %w", err)
	}
	nbrs := slices.Clone(cfg.Neighbors)
	n.nbrs.Store(&nbrs)
	if n.metrics == nil && cfg.MonitorAddr != "" {
		n.metrics = metrics.New(metrics.Config{Node: cfg.Name, Neighbors: cfg.Neighbors})
	}
	if p.chaos.Enabled {
		if n.chaos, err = chaos.New(p.chaos, n.nats, doors{n}); err != nil {
			return nil, fmt.Errorf("Chaos: %w", err)
		}
	}
	n.wire()
	if n.parts.storage.Dir != "" {
		if n.storage, err = storage.New(n.parts.storage); err != nil {
			return nil, fmt.Errorf("Storage: %w", err)
		}
		n.parts.core.Log = coreLog{n.storage}
	}
	return n, nil
}

// The store is every part's: the flood's and anti-entropy's, and the
// core's.
var (
	_ bus.Store         = (*store.Store)(nil)
	_ antientropy.Store = (*store.Store)(nil)
	_ core.Store        = (*store.Store)(nil)
	_ live.Routes       = (*embeddednats.Server)(nil)
)

// Start loads the records on disk (with Config.Storage.Dir), then starts
// the embedded NATS server (unless StartNATS did), the flood and anti-entropy, the client port
// and the service, and the monitor port. It returns once all
// of them are listening; the cluster may still be forming (see
// WaitClusterFormed). On error everything started is closed again.
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
	p := &n.parts
	if !n.natsUp {
		if err = n.startLogFile(); err != nil {
			return err
		}
	}
	// The records on disk first: the node answers nobody, and neither
	// floods nor reconciles, before it holds them.
	if n.storage != nil {
		if err = n.storage.Start(ctx); err != nil {
			return fmt.Errorf("start storage: %w", err)
		}
	}
	if !n.natsUp {
		if err = n.nats.Start(ctx); err != nil {
			return fmt.Errorf("start nats: %w", err)
		}
	}
	// A node's own connection must never give up on its server.
	if n.conn, err = n.nats.Connect(nats.MaxReconnects(-1), nats.ErrorHandler(n.natsErrors()), nats.DisconnectErrHandler(n.natsDisconnects())); err != nil {
		return fmt.Errorf("connect to own nats: %w", err)
	}
	if n.bus, err = bus.New(p.bus, n.floodStore()); err != nil {
		return fmt.Errorf("configure bus: %w", err)
	}
	if err = n.bus.Start(ctx); err != nil {
		return fmt.Errorf("start bus: %w", err)
	}
	if n.ae, err = antientropy.New(p.ae, n.conn, n.store, n.bus); err != nil {
		return fmt.Errorf("configure anti-entropy: %w", err)
	}
	if err = n.ae.Start(ctx); err != nil {
		return fmt.Errorf("start anti-entropy: %w", err)
	}
	n.peers = watchPeers(n.neighbors, n.reachable, &n.lost, n.ae.NeighborUp)
	if n.core, err = core.New(p.core, n.store, p.places, n.bus); err != nil {
		return fmt.Errorf("configure core: %w", err)
	}
	if n.client, err = server.New(p.client, n.core); err != nil {
		return fmt.Errorf("configure client server: %w", err)
	}
	if err = n.client.Start(ctx); err != nil {
		return fmt.Errorf("start client server: %w", err)
	}
	if n.svcConn, err = n.nats.Connect(nats.MaxReconnects(-1), nats.Name(n.cfg.Name+"-service")); err != nil {
		return fmt.Errorf("connect service to own nats: %w", err)
	}
	if n.svc, err = service.New(p.svc, n.svcConn, n.core); err != nil {
		return fmt.Errorf("configure service: %w", err)
	}
	if err = n.svc.Start(ctx); err != nil {
		return fmt.Errorf("start service: %w", err)
	}
	if err = n.startMonitor(ctx); err != nil {
		return err
	}
	return n.startChaos()
}

// StartNATS starts the node's log file and embedded NATS server only, so
// that several nodes starting in one process (herdrun) learn each other's
// cluster addresses (port 0) one after another and then Start — load
// their records, the longest part — at once. The server routes, and
// serves nothing of the node's, until Start: a neighbor that syncs
// meanwhile finds no responder and retries, as if the node were not up.
// On error everything started is closed again.
func (n *Node) StartNATS(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed || n.natsUp {
		return ErrStarted
	}
	defer func() {
		if err != nil {
			n.closeLocked()
		}
	}()
	if err = n.startLogFile(); err != nil {
		return err
	}
	if err = n.nats.Start(ctx); err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	n.natsUp = true
	return nil
}

func (n *Node) startLogFile() error {
	if n.parts.file == nil {
		return nil
	}
	return n.parts.file.Start()
}

// Close stops the monitor port, the doors, anti-entropy, the flood, the
// NATS server and the storage, in that order, and waits for their
// goroutines. It is
// safe to call more than once.
func (n *Node) Close() error {
	// First, without the lock: a chaos request in flight may be stopping
	// or starting the client port, which takes it.
	n.closeChaos()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closeLocked()
}

func (n *Node) closeLocked() error {
	if n.closed {
		return nil
	}
	n.closed = true
	n.closing.Store(true)
	var errs []error
	n.closeChaos()
	// The live view first: its event streams would hold up the monitor's
	// graceful shutdown, and it still publishes on the node's connection.
	if n.live != nil {
		errs = append(errs, n.live.Close())
	}
	if n.monitor != nil {
		errs = append(errs, n.monitor.Close())
	}
	if n.svc != nil {
		errs = append(errs, n.svc.Close())
	}
	if n.svcConn != nil {
		n.svcConn.Close()
	}
	if n.client != nil {
		errs = append(errs, n.client.Close())
	}
	n.releasePort()
	n.peers.stop()
	if n.ae != nil {
		errs = append(errs, n.ae.Close())
	}
	if n.bus != nil {
		errs = append(errs, n.bus.Close())
	}
	if n.conn != nil {
		n.conn.Close()
	}
	if n.chaosConn != nil {
		n.chaosConn.Close()
	}
	errs = append(errs, n.nats.Close())
	// After everything that appends to it: the doors, the flood,
	// anti-entropy.
	if n.storage != nil {
		errs = append(errs, n.storage.Close())
	}
	if n.parts.file != nil {
		errs = append(errs, n.parts.file.Close())
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

// NATS is the embedded NATS server (running once started).
func (n *Node) NATS() *embeddednats.Server { return n.nats }

// WaitClusterFormed waits until the embedded server has routes to peers
// other servers.
func (n *Node) WaitClusterFormed(ctx context.Context, peers int) error {
	return n.nats.WaitClusterFormed(ctx, peers)
}
