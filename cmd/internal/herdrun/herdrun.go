// Package herdrun turns a herd file into running nodes: one node of it
// (herd node) or all of them in one process (herd up).
package herdrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/metrics"
	"github.com/herdhq/herd/node/places"
)

// Errors, in one block.
var (
	ErrUnknownNode       = errors.New("no such node in the herd file")
	ErrChaosNoSystemUser = errors.New("chaos needs the system user")
)

// Logger builds the slog logger the herd file asks for.
func Logger(lc herdfile.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lc.Level)); err != nil {
		level = slog.LevelInfo // Validate already refused anything else
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(lc.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// natsLogLevel quietens the embedded NATS servers below debug level: their
// notices (a 15-line banner per server, every route connect) would bury
// the herd's own log. Warnings and errors still come through.
func natsLogLevel(log *slog.Logger) slog.Level {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// NodeConfig is the node.Config of node name in hf, answering WHATSAT
// with p, with routes to every neighbor.
func NodeConfig(hf herdfile.Config, name string, p places.Provider, log *slog.Logger) (node.Config, error) {
	n, ok := hf.Node(name)
	if !ok {
		return node.Config{}, fmt.Errorf("node %q: %w (have %s)", name, ErrUnknownNode, strings.Join(hf.Names(), ", "))
	}
	cfg := node.DefaultConfig()
	cfg.Name = n.Name
	cfg.Neighbors = hf.Neighbors(n.Name)
	cfg.Herd = node.Topology{Nodes: hf.Names(), Edges: hf.Edges(), Regions: hf.RegionMap()}
	cfg.Places = p
	cfg.Logger = log // the node adds its name to every line
	cfg.NATSLogLevel = natsLogLevel(log)

	cfg.NATS.ClusterName = hf.Region(n.Name) // the herd's name in a herd of one region
	cfg.NATS.ClientAddr = n.NATS
	cfg.NATS.ClusterAddr = n.Cluster
	if isHostName(n.Cluster) {
		// A cluster address given by host name is what the other nodes
		// should dial, also for routes they learn by gossip: NATS would
		// otherwise gossip the IP it listens on, which route certificates
		// naming the host do not match.
		cfg.NATS.ClusterAdvertise = n.Cluster
	}
	gatewayConfig(hf, n, &cfg)
	cfg.NATS.MonitorAddr = ""
	cfg.NATS.ObserverLimits = hf.Limits.Observers.NATS()
	cfg.NATS.InsecureRoutes = hf.Auth.Routes.Insecure
	for _, nb := range cfg.Neighbors {
		peer, _ := hf.Node(nb)                     // Validate checked every neighbor exists
		if hf.Region(nb) == cfg.NATS.ClusterName { // others are reached through a gateway
			cfg.NATS.Routes = append(cfg.NATS.Routes, "nats-route://"+peer.Cluster)
		}
	}
	// Every other node of the file in this node's region is a peer:
	// dialled as a configured route (the mesh does not wait for gossip,
	// and a node taken out of the file is dropped on reload), and the only
	// servers let in.
	cfg.NATS.Peers = Peers(hf, n.Name)
	cfg.NATS.PeersOnly = true
	cfg.NATS.RoutePasswordHint = passwordHint(hf.Auth.Routes.Credential, "auth.routes")

	cfg.Chaos.Enabled = hf.Chaos
	cfg.Chaos.Herd = Members(hf)

	cfg.AntiEntropy.Interval = hf.AntiEntropy.Interval
	cfg.AntiEntropy.Jitter = hf.AntiEntropy.Jitter
	cfg.AntiEntropy.Timeout = hf.AntiEntropy.Timeout

	cfg.Client.Addr = n.Client
	cfg.Client.MaxLineBytes = hf.Limits.MaxLineBytes
	cfg.Client.IdleTimeout = hf.Limits.IdleTimeout
	cfg.Client.WriteTimeout = hf.Limits.WriteTimeout
	cfg.Client.MaxConns = hf.Limits.MaxConnections
	cfg.Client.MaxOutstanding = hf.Limits.MaxOutstanding

	// The node keeps its files in <dir>/<name>/ (it joins its name).
	cfg.Storage.Dir = hf.Storage.Dir
	cfg.Storage.Fsync = hf.Storage.FsyncMode()

	cfg.MonitorAddr = n.Monitor
	cfg.WebsocketAddr = n.Websocket
	cfg.LogFile = hf.LogFile(n.Name)
	cfg.LogFileFormat = hf.Log.Format
	return cfg, nil // node.New validates, after Start's route seeding
}

// Peers are the NATS peers of node name: every other node of hf in its
// region, at its cluster address.
func Peers(hf herdfile.Config, name string) []embeddednats.Peer {
	var peers []embeddednats.Peer
	for _, m := range hf.Nodes {
		if m.Name != name && hf.Region(m.Name) == hf.Region(name) {
			peers = append(peers, embeddednats.Peer{Name: m.Name, Route: m.Cluster})
		}
	}
	return peers
}

// Members are the nodes of hf with their NATS addresses, as the chaos
// service lists them.
func Members(hf herdfile.Config) []chaos.Member {
	ms := make([]chaos.Member, 0, len(hf.Nodes))
	for _, n := range hf.Nodes {
		ms = append(ms, chaos.Member{Name: n.Name, NATS: n.NATS})
	}
	return ms
}

// passwordHint names where a credential's password comes from, for the
// line that reports a mismatch: the variable, else the file.
func passwordHint(c herdfile.Credential, field string) string {
	switch {
	case c.PasswordEnv != "" && c.PasswordFile != "":
		return fmt.Sprintf("%s (%s.password_env) or %s (%s.password_file)", c.PasswordEnv, field, c.PasswordFile, field)
	case c.PasswordEnv != "":
		return c.PasswordEnv
	case c.PasswordFile != "":
		return fmt.Sprintf("%s (%s.password_file)", c.PasswordFile, field)
	}
	return field
}

// nodeConfig is NodeConfig with the node's Places provider from ps and,
// when the node serves a monitor port, its metrics, made first so that
// the provider can report its upstream attempts to them.
func nodeConfig(hf herdfile.Config, name string, ps *Providers, log *slog.Logger) (node.Config, error) {
	var m *metrics.Metrics
	var onUpstream func(string, time.Duration)
	if n, ok := hf.Node(name); ok && n.Monitor != "" {
		m = metrics.New(metrics.Config{Node: name, Neighbors: hf.Neighbors(name)})
		onUpstream = m.ObserveUpstream
	}
	p, stats, err := ps.NewObserved(onUpstream)
	if err != nil {
		return node.Config{}, err
	}
	cfg, err := NodeConfig(hf, name, p, log)
	if err != nil {
		return node.Config{}, err
	}
	cfg.Metrics, cfg.PlacesStats = m, stats
	return cfg, nil
}

// Herd is a set of nodes of one herd file running in this process.
type Herd struct {
	Nodes []*node.Node   // in file order
	peers map[string]int // node → its route peers (the rest of its region)

	closeOnce sync.Once
	closeErr  error
}

// Start starts the named nodes of hf (all of them when names is empty) and
// returns once every one is listening: their NATS servers one after
// another (below), then the rest of each node, its records on disk first,
// all at once. Nodes on fixed ports may start in
// any order: configured routes are redialled until the neighbor is up.
//
// Nodes started together dial only their neighbors started before them
// (whose addresses are known then, also on port 0), so that a herd
// starting in one process does not log a failed dial to every node not yet
// up; NATS gossip completes the mesh. A node none of whose peers starts
// here dials them all.
//
// Route credentials, route TLS and the system user come from
// WithSecurity; a herd file that asks for route auth or TLS without it is
// refused with ErrNoSecurity.
func Start(ctx context.Context, hf herdfile.Config, names []string, ps *Providers, log *slog.Logger, opts ...Option) (*Herd, error) {
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.sec == nil && needsSecurity(hf) {
		return nil, ErrNoSecurity
	}
	warnOpenRoutes(o.sec, log)
	if len(names) == 0 {
		names = hf.Names()
	}
	h := &Herd{peers: map[string]int{}}
	started := map[string]string{}  // name → cluster address
	gateways := map[string]string{} // name → gateway address, of the nodes started
	for _, name := range names {
		cfg, err := nodeConfig(hf, name, ps, log)
		if err != nil {
			h.Close()
			return nil, err
		}
		if err := secure(&cfg, name, o.sec, hf.Auth.System); err != nil {
			h.Close()
			return nil, err
		}
		if slices.ContainsFunc(cfg.NATS.Peers, func(p embeddednats.Peer) bool { return slices.Contains(names, p.Name) }) {
			// Nodes started together: dial the neighbors started before,
			// at their real addresses, and let gossip complete the mesh,
			// as every node dialling every earlier one would race with it
			// (duplicate routes, closed again) just as the herd forms.
			cfg.NATS.Routes = nil
			for i, p := range cfg.NATS.Peers {
				host, _, _ := net.SplitHostPort(p.Route)
				addr, ok := started[p.Name]
				switch {
				case ok && slices.Contains(cfg.Neighbors, p.Name):
					cfg.NATS.Peers[i].Route = addr
				case ok || slices.Contains(names, p.Name):
					cfg.NATS.Peers[i].Route = net.JoinHostPort(host, "0") // not dialled
				}
			}
		}
		startedGateways(hf, names, gateways, &cfg)
		n, err := node.New(cfg)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("node %s: %w", name, herdFileError(err, cfg))
		}
		h.Nodes = append(h.Nodes, n)
		if err := n.StartNATS(ctx); err != nil {
			h.Close()
			return nil, fmt.Errorf("start node %s: %w", name, err)
		}
		h.peers[name] = len(cfg.NATS.Peers)
		started[name] = n.NATS().ClusterAddr()
		gateways[name] = n.NATS().GatewayAddr()
	}
	// Then the rest of every node at once: loading the records on disk
	// takes the longest, and each node's is its own.
	errs := make([]error, len(h.Nodes))
	var wg sync.WaitGroup
	for i, n := range h.Nodes {
		wg.Go(func() {
			if err := n.Start(ctx); err != nil {
				errs[i] = fmt.Errorf("start node %s: %w", n.Name(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		h.Close()
		return nil, err
	}
	if hf.Chaos && len(h.Nodes) > 1 {
		if err := h.chaosPeers(hf); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// chaosPeers gives nodes started together every other as a configured
// route, at the address it listens on, and their chaos services every
// node's NATS address: a cut peer must be a configured route (else gossip
// makes a node dial it unmarked; see embeddednats BlockRoutes), and a
// stopped node is reached at its own NATS port.
func (h *Herd) chaosPeers(hf herdfile.Config) error {
	cluster, client := map[string]string{}, map[string]string{}
	for _, n := range h.Nodes {
		cluster[n.Name()] = n.NATS().ClusterAddr()
		client[n.Name()] = strings.TrimPrefix(n.NATS().ClientURL(), "nats://")
	}
	members := Members(hf)
	for i, m := range members {
		if addr, ok := client[m.Name]; ok {
			members[i].NATS = addr
		}
	}
	for _, n := range h.Nodes {
		peers := Peers(hf, n.Name())
		for i, p := range peers {
			if addr, ok := cluster[p.Name]; ok {
				peers[i].Route = addr
			}
		}
		if _, _, err := n.NATS().SetPeers(peers); err != nil {
			return fmt.Errorf("node %s: %w", n.Name(), err)
		}
		n.Chaos().SetHerd(members)
	}
	return nil
}

// WaitFormed waits until every node has a route to each of the other
// nodes of its region in the herd file, its gateways deliver to every
// other region, and it reaches each of its neighbors (in another region:
// their subscriptions known across the gateway). Only then is nothing
// the flood sends lost for want of a route, gateway or interest.
func (h *Herd) WaitFormed(ctx context.Context) error {
	for _, n := range h.Nodes {
		if err := n.WaitClusterFormed(ctx, h.peers[n.Name()]); err != nil {
			return fmt.Errorf("node %s: %w", n.Name(), err)
		}
	}
	for _, n := range h.Nodes {
		if err := n.WaitNeighbors(ctx); err != nil {
			return fmt.Errorf("node %s: %w", n.Name(), err)
		}
	}
	return nil
}

// Close closes every node. It is safe to call more than once.
func (h *Herd) Close() error {
	h.closeOnce.Do(func() {
		var errs []error
		for _, n := range h.Nodes {
			errs = append(errs, n.Close())
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}
