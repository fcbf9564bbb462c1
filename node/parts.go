package node

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/logfile"
	"github.com/herdhq/herd/node/monitor"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/server"
	"github.com/herdhq/herd/node/service"
	"github.com/herdhq/herd/node/storage"
)

// parts are the configs of a node's parts, each built once from Config
// and validated by New. The hooks between parts (observers, the flood the
// core hands records to) are set in wire, once the node has its metrics;
// the handles that exist only once the node runs (its NATS connection,
// the core) are passed to each part's New by Start.
type parts struct {
	log     *slog.Logger  // the node's: console and log file, node=<Name>
	file    *logfile.File // nil without Config.LogFile
	places  places.Provider
	nats    embeddednats.Config
	bus     bus.Config
	ae      antientropy.Config
	core    core.Config
	client  server.Config
	svc     service.Config
	storage storage.Config // Dir "": memory only
	monitor monitor.Config // unused without Config.MonitorAddr
	live    live.Config    // idem
	chaos   chaos.Config   // unused unless Enabled
}

// parts builds and validates every part's config; st is the node's
// store, which the storage fills, and link dials the flood's link to the
// node's NATS server.
func (c Config) parts(st storage.Store, link func() (bus.Link, error)) (parts, error) {
	var p parts
	switch {
	case !record.ValidName(c.Name):
		return p, fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	case c.Places == nil:
		return p, fmt.Errorf("%w: Places is nil", ErrInvalidConfig)
	}
	if err := bus.ValidNeighbors(c.Name, c.Neighbors); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.validateRegions(); err != nil {
		return p, err
	}
	if err := c.validateObservability(); err != nil {
		return p, err
	}
	if err := p.logs(c); err != nil {
		return p, err
	}
	p.places = c.Places

	p.nats = c.NATS
	p.nats.Name, p.nats.Logger = c.Name, p.natsLogger(c)
	p.nats.Chaos = c.Chaos.Enabled
	p.chaos = c.Chaos
	p.chaos.Name, p.chaos.Logger = c.Name, p.log
	if c.Chaos.Enabled {
		if c.NATS.SystemPassword == "" {
			return p, fmt.Errorf("%w: Chaos: needs the NATS system user (NATS.SystemPassword): only it reaches the chaos service", ErrInvalidConfig)
		}
		if err := p.chaos.Validate(); err != nil {
			return p, fmt.Errorf("Chaos: %w", err)
		}
	}
	if ws := c.WebsocketAddr; ws != "" {
		p.nats.Options = websocket(ws, p.nats.Options)
	}
	if err := p.nats.Validate(); err != nil {
		return p, fmt.Errorf("NATS: %w", err)
	}

	p.bus = c.Bus
	p.bus.Name, p.bus.Neighbors, p.bus.Logger, p.bus.Observe = c.Name, c.Neighbors, p.log, nil
	p.bus.Link = link
	p.ae = c.AntiEntropy
	p.ae.Name, p.ae.Logger, p.ae.Observe = c.Name, p.log, nil
	p.core = core.Config{Name: c.Name, Clock: c.Clock}
	p.client = c.Client
	p.client.Logger, p.client.Observe = p.log, nil
	p.svc = c.Service
	p.svc.Node, p.svc.Logger = c.Name, p.log
	var storageErr error
	if c.Storage.Dir != "" {
		p.storage = c.Storage
		p.storage.Dir = filepath.Join(c.Storage.Dir, c.Name)
		p.storage.Store, p.storage.Logger, p.storage.Observe = st, p.log, storage.NopObserver{}
		storageErr = p.storage.Validate()
	}
	p.monitor = monitor.DefaultConfig()
	p.monitor.Addr, p.monitor.Logger = c.MonitorAddr, p.log
	p.live = live.DefaultConfig()
	topo := c.topology()
	p.live.Name, p.live.Nodes, p.live.Edges, p.live.Logger = c.Name, topo.Nodes, topo.Edges, p.log
	p.live.Regions = topo.Regions
	for _, v := range []struct {
		part string
		err  error
	}{
		{"Bus", p.bus.Validate()},
		{"AntiEntropy", p.ae.Validate()},
		{"core", p.core.Validate()},
		{"Client", p.client.Validate()},
		{"Service", p.svc.Validate()},
		{"Storage", storageErr},
	} {
		if v.err != nil {
			return p, fmt.Errorf("%s: %w", v.part, v.err)
		}
	}
	if c.MonitorAddr != "" {
		if err := p.monitor.Validate(); err != nil {
			return p, fmt.Errorf("monitor: %w", err)
		}
		if err := p.live.Validate(); err != nil {
			return p, fmt.Errorf("live view (Herd): %w", err)
		}
	}
	return p, nil
}

// logs builds the node's logger: Config.Logger (nil discards) and, with a
// log file, the file at debug level, with node=<Name> on every line.
func (p *parts) logs(c Config) error {
	console := c.Logger
	if console == nil {
		console = slog.New(slog.DiscardHandler)
	}
	h := console.Handler()
	if c.LogFile != "" {
		lc := logfile.DefaultConfig()
		lc.Path = c.LogFile
		if c.LogFileFormat != "" {
			lc.Format = c.LogFileFormat
		}
		f, err := logfile.New(lc)
		if err != nil {
			return err
		}
		p.file = f
		h = logfile.Tee(h, f.Handler())
	}
	p.log = slog.New(h).With("node", c.Name)
	return nil
}

// natsLogger is the embedded server's: the console from NATSLogLevel, the
// log file from info (routes up and down belong in it; NATS debug chatter
// does not).
func (p *parts) natsLogger(c Config) *slog.Logger {
	console := c.Logger
	if console == nil {
		console = slog.New(slog.DiscardHandler)
	}
	h := logfile.MinLevel(console.Handler(), c.NATSLogLevel)
	if p.file != nil {
		h = logfile.Tee(h, logfile.MinLevel(p.file.Handler(), slog.LevelInfo))
	}
	return slog.New(h).With("node", c.Name)
}

// websocket adds a NATS WebSocket listener on addr to the server options,
// without TLS on loopback (browsers on this machine only); elsewhere TLS
// comes from prev, the NATS Options hook.
func websocket(addr string, prev func(*natsserver.Options)) func(*natsserver.Options) {
	host, _, _ := net.SplitHostPort(addr)
	port, _ := splitPort(addr)
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	return func(o *natsserver.Options) {
		o.Websocket.Host, o.Websocket.Port = host, port
		o.Websocket.NoTLS = isLoopback(addr)
		if prev != nil {
			prev(o)
		}
	}
}

// wire sets the hooks between parts: every observer is the node's metrics
// (or nobody), the Places provider is counted, the records gauge reads the
// store. Each hook is a named field of a part's config, and metrics.Metrics
// implements every observer interface, checked at compile time there.
func (n *Node) wire() {
	m := n.metrics
	if m == nil {
		return
	}
	p := &n.parts
	p.bus.Observe, p.ae.Observe, p.core.Observe, p.client.Observe = m, m, m, m
	if p.storage.Dir != "" {
		p.storage.Observe = m.Storage()
	}
	p.places = m.Places(n.cfg.Places)
	m.SetRecords(n.store.Len)
	if n.cfg.PlacesStats != nil {
		m.SetPlacesStats(n.cfg.PlacesStats)
	}
	p.live.Stats = n.liveStats
	p.live.Gateways = n.nats.GatewaysUp
	if n.chaos != nil {
		p.live.Cuts = n.chaos.Cuts
	}
}

// floodLink dials the flood's link to the node's own server
// (bus.Config.Link): Start dials it once n.nats runs.
func (n *Node) floodLink() (bus.Link, error) {
	c, cr, err := n.nats.DialInProcess()
	return bus.Link{Conn: c, Nkey: cr.Nkey, Sign: cr.Sign}, err
}
