package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/herdhq/herd/node/live"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/logfile"
	"github.com/herdhq/herd/node/metrics"
	"github.com/herdhq/herd/node/monitor"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/server"
	"github.com/herdhq/herd/node/service"
)

// observability is what a node runs besides its client port and flood:
// the log file, the NATS micro service and the monitor port.
type observability struct {
	file    *logfile.File
	svcConn *nats.Conn
	svc     *service.Service
	monitor *monitor.Server
	places  places.Provider // Config.Places, counted when metrics are on
	live    *live.Live
}

func (c Config) validateObservability() error {
	if c.MonitorAddr != "" {
		if _, err := splitPort(c.MonitorAddr); err != nil {
			return fmt.Errorf("%w: MonitorAddr %q: %v", ErrInvalidConfig, c.MonitorAddr, err)
		}
	}
	if c.WebsocketAddr != "" {
		if _, err := splitPort(c.WebsocketAddr); err != nil {
			return fmt.Errorf("%w: WebsocketAddr %q: %v", ErrInvalidConfig, c.WebsocketAddr, err)
		}
		// TLS can only come from the NATS Options hook.
		if !isLoopback(c.WebsocketAddr) && c.NATS.Options == nil {
			return fmt.Errorf("%w: WebsocketAddr %q: without TLS a websocket listener must be on loopback", ErrInvalidConfig, c.WebsocketAddr)
		}
	}
	switch c.LogFileFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("%w: LogFileFormat %q: want text or json", ErrInvalidConfig, c.LogFileFormat)
	}
	return nil
}

func splitPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("port %q is not a number in 0..65535", p)
	}
	return port, nil
}

func isLoopback(addr string) bool {
	h, _, _ := net.SplitHostPort(addr)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// wireMetrics points the metrics at the store and counts Places calls.
func (n *Node) wireMetrics() {
	n.obs.places = n.cfg.Places
	if n.metrics == nil {
		return
	}
	n.metrics.SetRecords(n.store.Len)
	if sp, ok := n.cfg.Places.(metrics.StatsProvider); ok {
		n.metrics.SetPlacesStats(sp)
	}
	n.obs.places = n.metrics.Places(n.cfg.Places)
}

// Metrics are the node's metrics, or nil when it keeps none. Anti-entropy
// reports repairs through Metrics().Repaired(n), which a nil *Metrics
// accepts.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// openLogFile opens Config.LogFile and sends the node's log to it too.
func (n *Node) openLogFile() error {
	if n.cfg.LogFile == "" {
		return nil
	}
	lc := logfile.DefaultConfig()
	lc.Path = n.cfg.LogFile
	if n.cfg.LogFileFormat != "" {
		lc.Format = n.cfg.LogFileFormat
	}
	f, err := logfile.Open(lc)
	if err != nil {
		return err
	}
	n.obs.file = f
	n.log = slog.New(logfile.Tee(n.cfg.Logger.Handler(), f.Handler())).With("node", n.cfg.Name)
	return nil
}

func (n *Node) closeLogFile() error {
	if n.obs.file == nil {
		return nil
	}
	return n.obs.file.Close()
}

// withFile adds the log file (at least at minLevel) to a logger the
// caller configured explicitly.
func (n *Node) withFile(l *slog.Logger, minLevel slog.Level) *slog.Logger {
	if n.obs.file == nil {
		return l
	}
	fh := logfile.MinLevel(n.obs.file.Handler(), minLevel).WithAttrs([]slog.Attr{slog.String("node", n.cfg.Name)})
	return slog.New(logfile.Tee(l.Handler(), fh))
}

// natsConfig is Config.natsConfig with the node's logger and the
// websocket listener.
func (n *Node) natsConfig() embeddednats.Config {
	c := n.cfg.natsConfig()
	if n.cfg.NATS.Logger == nil {
		c.Logger = n.log
	} else {
		// NATS notices (routes up and down) belong in the file; its debug
		// chatter does not.
		c.Logger = n.withFile(c.Logger, slog.LevelInfo)
	}
	if ws := n.cfg.WebsocketAddr; ws != "" {
		host, _, _ := net.SplitHostPort(ws)
		port, _ := splitPort(ws)
		if port == 0 {
			port = natsserver.RANDOM_PORT
		}
		prev := c.Options
		c.Options = func(o *natsserver.Options) {
			o.Websocket.Host, o.Websocket.Port = host, port
			// Browsers on this machine only; elsewhere TLS comes from prev.
			o.Websocket.NoTLS = isLoopback(ws)
			if prev != nil {
				prev(o)
			}
		}
	}
	return c
}

// clientConfig is Config.clientConfig with the node's logger, metrics and
// counted Places.
func (n *Node) clientConfig() server.Config {
	c := n.cfg.clientConfig(n.store, n.bus.Publish)
	if n.cfg.Client.Logger == nil {
		c.Logger = n.log
	} else {
		c.Logger = n.withFile(c.Logger, slog.LevelDebug)
	}
	c.Places = n.obs.places
	if n.metrics != nil && c.Observe == nil {
		c.Observe = n.metrics
	}
	return c
}

// startObservability starts the NATS micro service and the monitor port,
// once the client server is up (the service shares its command logic).
func (n *Node) startObservability(ctx context.Context) error {
	var err error
	if n.obs.svcConn, err = n.nats.Connect(nats.MaxReconnects(-1), nats.Name(n.cfg.Name+"-service")); err != nil {
		return fmt.Errorf("connect service to own nats: %w", err)
	}
	sc := service.DefaultConfig()
	sc.Node, sc.Conn, sc.Commands, sc.Logger = n.cfg.Name, n.obs.svcConn, n.client, n.log
	if n.obs.svc, err = service.New(sc); err != nil {
		return fmt.Errorf("configure service: %w", err)
	}
	if err = n.obs.svc.Start(ctx); err != nil {
		return fmt.Errorf("start service: %w", err)
	}
	if n.cfg.MonitorAddr == "" {
		return nil
	}
	mc := monitor.DefaultConfig()
	mc.Addr, mc.Logger = n.cfg.MonitorAddr, n.log
	if n.obs.monitor, err = monitor.New(mc); err != nil {
		return fmt.Errorf("configure monitor: %w", err)
	}
	if err = n.mount(n.obs.monitor, n.nats); err != nil {
		return err
	}
	if err = n.startLive(ctx); err != nil {
		return err
	}
	if err = n.obs.monitor.Start(ctx); err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}
	return nil
}

func (n *Node) closeObservability() []error {
	var errs []error
	// The live view first: its event streams would hold up the monitor's
	// graceful shutdown, and it still publishes on the node's connection.
	if n.obs.live != nil {
		errs = append(errs, n.obs.live.Close())
	}
	if n.obs.monitor != nil {
		errs = append(errs, n.obs.monitor.Close())
	}
	if n.obs.svc != nil {
		errs = append(errs, n.obs.svc.Close())
	}
	if n.obs.svcConn != nil {
		n.obs.svcConn.Close()
	}
	return errs
}

// natsEndpoints are the nats-server monitoring endpoints the monitor port
// serves, at their usual paths and under /nats/.
var natsEndpoints = []struct {
	name    string
	handler func(*natsserver.Server) http.HandlerFunc
}{
	{"varz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleVarz }},
	{"connz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleConnz }},
	{"routez", func(s *natsserver.Server) http.HandlerFunc { return s.HandleRoutez }},
	{"subsz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleSubsz }},
	{"gatewayz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleGatewayz }},
	{"leafz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleLeafz }},
	{"accountz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleAccountz }},
	{"accstatz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleAccountStatz }},
	{"jsz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleJsz }},
	{"healthz", func(s *natsserver.Server) http.HandlerFunc { return s.HandleHealthz }},
}

// mount puts the node's endpoints on m. Handlers hold ns itself, not the
// node's lock, so a request in flight never waits on Close.
func (n *Node) mount(m *monitor.Server, ns *embeddednats.Server) error {
	srv := ns.NATS()
	var errs []error
	for _, e := range natsEndpoints {
		h := e.handler(srv)
		errs = append(errs, m.Handle("GET /nats/"+e.name, h))
		if e.name != "healthz" { // /healthz is the herd's
			errs = append(errs, m.Handle("GET /"+e.name, h))
		}
	}
	errs = append(errs, m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := n.health(ns)
		code := http.StatusOK
		if h.Status != HealthOK {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(h)
	}))
	if n.metrics != nil {
		errs = append(errs, m.Handle("GET /metrics", n.metrics.Handler()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mount monitor endpoints: %w", err)
	}
	return nil
}

// Monitor is the node's HTTP port, once started (nil without
// MonitorAddr). More handlers can be mounted on it with Handle.
func (n *Node) Monitor() *monitor.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.obs.monitor
}

// MonitorURL is "http://host:port" of the monitor port, or "".
func (n *Node) MonitorURL() string {
	if m := n.Monitor(); m != nil {
		return m.URL()
	}
	return ""
}

// WebsocketURL is the NATS WebSocket URL (ws://host:port), or "".
func (n *Node) WebsocketURL() string {
	ns := n.NATS()
	if n.cfg.WebsocketAddr == "" || ns == nil || ns.NATS() == nil {
		return ""
	}
	return ns.NATS().WebsocketURL()
}

// Health statuses.
const (
	HealthOK          = "ok"
	HealthUnavailable = "unavailable"
)

// Health is the answer of /healthz: ok when the NATS server runs and has a
// route to every configured neighbor (health.go).
type Health struct {
	Status    string   `json:"status"`
	Neighbors []string `json:"neighbors"`
	// Missing are the neighbors without a route now.
	Missing []string `json:"missing,omitempty"`
	// UnreachablePeers are the other nodes of the herd without a route
	// now, neighbors or not: the mesh is incomplete while any is listed.
	UnreachablePeers []string `json:"unreachable_peers,omitempty"`
	Error            string   `json:"error,omitempty"`
}

// Health reports whether the node reaches all its neighbors.
func (n *Node) Health() Health {
	ns := n.NATS()
	if ns == nil {
		return Health{Status: HealthUnavailable, Neighbors: n.neighbors(), Missing: n.neighbors(), Error: "not started"}
	}
	return n.health(ns)
}

func (n *Node) health(ns *embeddednats.Server) Health {
	h := Health{Status: HealthOK, Neighbors: n.neighbors()}
	if srv := ns.NATS(); srv == nil || !srv.Running() {
		h.Error = "nats server not running"
		h.Missing = h.Neighbors
	} else {
		meshHealth(&h, ns)
	}
	if h.Error != "" || len(h.Missing) > 0 {
		h.Status = HealthUnavailable
	}
	return h
}
