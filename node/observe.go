package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/monitor"
)

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

// startMonitor serves the node's HTTP port, with the live view, when
// Config.MonitorAddr is set.
func (n *Node) startMonitor(ctx context.Context) error {
	if n.cfg.MonitorAddr == "" {
		return nil
	}
	var err error
	if n.monitor, err = monitor.New(n.parts.monitor); err != nil {
		return fmt.Errorf("configure monitor: %w", err)
	}
	if err = n.mount(n.monitor, n.nats); err != nil {
		return err
	}
	if err = n.startLive(ctx); err != nil {
		return err
	}
	if err = n.monitor.Start(ctx); err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}
	return nil
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
		if h.Status == HealthUnavailable {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(h)
	}))
	if n.metrics != nil {
		errs = append(errs, m.Handle("GET /metrics", n.metrics.Handler()), n.registerNATSLimits(ns))
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
	return n.monitor
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
	if n.cfg.WebsocketAddr == "" || n.nats.NATS() == nil {
		return ""
	}
	return n.nats.NATS().WebsocketURL()
}

// Health statuses.
const (
	HealthOK          = "ok"
	HealthUnavailable = "unavailable"
	// HealthDegraded: the node serves every client, but some record it
	// holds is not on disk (Health.Storage says why). /healthz answers
	// 200: taking the node out of service would lose availability and
	// would not bring the disk back.
	HealthDegraded = "degraded"
)

// Health is the answer of /healthz: ok when the NATS server runs and has a
// route to every configured neighbor (health.go; else unavailable, 503),
// and its storage, if any, has every record on disk (else degraded, 200).
type Health struct {
	Status    string   `json:"status"`
	Neighbors []string `json:"neighbors"`
	// Missing are the neighbors without a route now.
	Missing []string `json:"missing,omitempty"`
	// UnreachablePeers are the other nodes of the herd without a route
	// now, neighbors or not: the mesh is incomplete while any is listed.
	UnreachablePeers []string `json:"unreachable_peers,omitempty"`
	// UnreachableRegions are the other regions this node's gateways do
	// not deliver to now (regions.go).
	UnreachableRegions []string `json:"unreachable_regions,omitempty"`
	Error              string   `json:"error,omitempty"`
	// Storage is the storage's health; absent when the node keeps its
	// records in memory only.
	Storage *StorageHealth `json:"storage,omitempty"`
}

// Health reports whether the node reaches all its neighbors.
func (n *Node) Health() Health {
	if n.nats.NATS() == nil {
		return Health{Status: HealthUnavailable, Neighbors: n.neighbors(), Missing: n.neighbors(), Error: "not started"}
	}
	return n.health(n.nats)
}

func (n *Node) health(ns *embeddednats.Server) Health {
	h := Health{Status: HealthOK, Neighbors: n.neighbors()}
	if srv := ns.NATS(); srv == nil || !srv.Running() {
		h.Error = "nats server not running"
		h.Missing = h.Neighbors
	} else {
		meshHealth(&h, n.reachable(), ns)
	}
	h.Storage = n.storageHealth()
	switch {
	case h.Error != "" || len(h.Missing) > 0:
		h.Status = HealthUnavailable
	case h.Storage != nil && h.Storage.Status != HealthOK:
		h.Status = HealthDegraded
	}
	return h
}
