package embeddednats

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Peer is another server of the herd this server belongs to.
type Peer struct {
	// Name is its server name, the herd node's name.
	Name string
	// Route is host:port of its route listener. This server dials it as a
	// configured (explicit) route, redialled until it answers, unless the
	// port is 0 (not known in advance: the peer dials this server). With
	// route TLS verification the peer's certificate must name the host.
	Route string
}

// strayRouteRetries bounds the redials of a gossip-learned route when every
// peer is a configured route: such a route can only lead to a server that
// is not (or no longer) a peer, so it is given up after a few failed dials
// rather than redialled for years.
const strayRouteRetries = 3

// peerSet is one immutable snapshot of the peers.
type peerSet struct {
	byName map[string]Peer
	names  []string // sorted
}

func newPeerSet(peers []Peer) *peerSet {
	ps := &peerSet{byName: make(map[string]Peer, len(peers))}
	for _, p := range peers {
		ps.byName[p.Name] = p
		ps.names = append(ps.names, p.Name)
	}
	slices.Sort(ps.names)
	return ps
}

// host is the host a peer's certificate must name.
func (ps *peerSet) host(name string) (string, bool) {
	p, ok := ps.byName[name]
	if !ok {
		return "", false
	}
	h, _, _ := net.SplitHostPort(p.Route)
	return h, true
}

// validatePeers checks Peers: node names other than Name, each once, with a
// route address whose host is set (port 0 allowed).
func validatePeers(self string, peers []Peer) error {
	seen := make(map[string]bool, len(peers))
	for i, p := range peers {
		switch {
		case !IsToken(p.Name):
			return fmt.Errorf("field Peers[%d].Name %q: %w: want letters, digits, '_' or '-'", i, p.Name, ErrPeer)
		case p.Name == self:
			return fmt.Errorf("field Peers[%d].Name %q: %w: this server itself", i, p.Name, ErrPeer)
		case seen[p.Name]:
			return fmt.Errorf("field Peers[%d].Name %q: %w: listed twice", i, p.Name, ErrPeer)
		}
		seen[p.Name] = true
		h, _, err := net.SplitHostPort(p.Route)
		if err == nil && h == "" {
			err = fmt.Errorf("missing host")
		}
		if err == nil {
			_, _, err = splitAddr(p.Route, true)
		}
		if err != nil {
			return fmt.Errorf("field Peers[%d].Route %q: %w: %v", i, p.Route, ErrPeer, err)
		}
	}
	return nil
}

// routeUser is the user name this server presents on every route it dials:
// its own name, '@', the configured route user. The accepting server
// learns from it which node is dialling before it lets the route in (a
// route's CONNECT carries only the random server ID), so it can check the
// node's certificate and membership, apply its chaos cuts and name it in
// refusals. Empty when routes are open, not restricted to peers and not
// under chaos: any server may join then, as with plain nats-server.
func (c Config) routeUser() string {
	if c.RoutePassword == "" && !c.PeersOnly && !c.Chaos {
		return ""
	}
	return c.Name + "@" + c.RouteUser
}

// routeMark is what a route's user says besides the dialling node: that
// the dialler cut the route (BlockRoutes), and the generation of the
// dialler's routes to this peer, which grows each time it cuts or heals
// them. The user is "<node>[.cut][.<gen>]@<route user>", e.g.
// "Goloman@herd", "Goloman.cut.1@herd", "Goloman.2@herd"; node names are
// NATS tokens, so neither part can be taken for one.
//
// The accepting server refuses a route marked cut whatever its own cuts,
// so a cut holds when only one end applied it, and closes the routes let
// in from that dialler of an older generation: those a reload could not
// close (see gate.go), but not a newer one of a heal that overtook the
// marked route.
type routeMark struct {
	cut bool
	gen uint64
}

// user is the route user for this server (name) with mark m.
func (m routeMark) user(name, routeUser string) string {
	if m.cut {
		name += ".cut"
	}
	if m.gen > 0 {
		name += "." + strconv.FormatUint(m.gen, 10)
	}
	return name + "@" + routeUser
}

// splitRouteUser splits a route user name into the node name it claims,
// the configured user part, and the dialler's mark; name is empty when it
// names no node.
func splitRouteUser(u string) (name, user string, m routeMark) {
	head, user, ok := strings.Cut(u, "@")
	if !ok {
		return "", u, routeMark{}
	}
	parts := strings.Split(head, ".")
	name, rest := parts[0], parts[1:]
	if len(rest) > 0 && rest[0] == "cut" {
		m.cut, rest = true, rest[1:]
	}
	if len(rest) == 1 {
		g, err := strconv.ParseUint(rest[0], 10, 64)
		if err != nil || g == 0 {
			return "", u, routeMark{}
		}
		m.gen, rest = g, nil
	}
	if len(rest) > 0 || !IsToken(name) {
		return "", u, routeMark{}
	}
	return name, user, m
}

// applyRoutes sets the routes this server dials, every peer with a known
// port and Routes, each address once, with this server's route
// credentials (marked as mark says, see routeMark), and the credentials
// it presents on gossip-learned routes.
func (c Config) applyRoutes(o *server.Options, peers []Peer, mark func(name string) routeMark) {
	user := c.routeUser()
	seen := map[string]bool{}
	o.Routes = nil
	add := func(u *url.URL, user string) {
		if key := strings.ToLower(u.Host); !seen[key] {
			seen[key] = true
			if u.User == nil && user != "" {
				u.User = url.UserPassword(user, string(c.RoutePassword))
			}
			o.Routes = append(o.Routes, u)
		}
	}
	// Peers first: a neighbor's address in Routes is the same peer, and
	// its route must carry the peer's mark.
	dialled := true
	for _, p := range peers {
		if _, port, _ := splitAddr(p.Route, true); port == 0 {
			dialled = false
			continue
		}
		u := user
		if user != "" && mark != nil {
			u = mark(p.Name).user(c.Name, c.RouteUser)
		}
		add(&url.URL{Scheme: "nats-route", Host: p.Route}, u)
	}
	for _, r := range c.Routes {
		u, _ := parseRoute(r) // Validate checked every route
		add(u, user)
	}
	// In the order a reload sorts them, in place, in the options the
	// running server reads (see sortForReload).
	slices.SortFunc(o.Routes, func(a, b *url.URL) int { return strings.Compare(a.String(), b.String()) })
	if user != "" {
		o.Cluster.Username, o.Cluster.Password = user, string(c.RoutePassword)
	}
	o.Cluster.ConnectRetries = c.ConnectRetries
	if c.PeersOnly && dialled && c.ConnectRetries > strayRouteRetries {
		o.Cluster.ConnectRetries = strayRouteRetries
	}
}

// PeerNames returns the configured peers' names, sorted (see SetPeers).
func (s *Server) PeerNames() []string {
	ps, _ := s.check.current()
	return slices.Clone(ps.names)
}

// MissingPeers returns the configured peers that have no accepted route to
// this server now, sorted: while it is not empty the mesh is incomplete
// and NATS does not deliver between this server and them.
func (s *Server) MissingPeers() []string {
	up := s.Peers()
	ps, _ := s.check.current()
	var missing []string
	for _, n := range ps.names {
		if !slices.Contains(up, n) {
			missing = append(missing, n)
		}
	}
	return missing
}

// removalQuiet is how long the routes to peers about to be removed must
// stay as they are before the reload that removes them, and
// removalWaitMax how long SetPeers waits for that at most. The reload
// closes the routes registered when it runs, and nothing else: a route
// still being dialled (a pool filling up, a duplicate being redialled)
// registers after it, is no longer configured, so nothing ever closes it,
// and the removed node stays in the cluster until it stops. Removing a
// node right after it joined left it connected in 15 of 20 runs
// (TestServer_SetPeers_removedPeerIsForgotten without this wait). The
// quiet time outlasts nats-server's redial of a route closed as a
// duplicate (1s plus up to 100ms for a configured route, up to 100ms for
// a gossip-learned one, which does not look at the configuration) and a
// slow handshake.
const (
	removalQuiet   = 1500 * time.Millisecond
	removalWaitMax = 6 * time.Second
)

// waitRoutesQuiet waits until the routes to the named peers have not
// changed for removalQuiet, for at most removalWaitMax, or until Close.
func (s *Server) waitRoutesQuiet(srv *server.Server, names []string) {
	routes := func() []uint64 {
		rz, err := srv.Routez(&server.RoutezOptions{})
		if err != nil {
			return nil
		}
		var rids []uint64
		for _, r := range rz.Routes {
			if slices.Contains(names, r.RemoteName) {
				rids = append(rids, r.Rid)
			}
		}
		slices.Sort(rids)
		return rids
	}
	start := time.Now()
	last, since := routes(), start
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
		}
		now := time.Now()
		if cur := routes(); !slices.Equal(cur, last) {
			last, since = cur, now
		}
		if now.Sub(since) >= removalQuiet {
			return
		}
		if now.Sub(start) >= removalWaitMax {
			s.log.Warn("removing peers while their routes still change: a route being opened now may outlive the removal", "peers", names)
			return
		}
	}
}

// SetPeers replaces the peers while the server runs (a reloaded herd
// file). An added peer is dialled at once (when its port is known) and,
// if it was being refused as a stranger, let in at once. A removed peer's
// routes are closed and never redialled, and with PeersOnly its dials are
// refused from now on. It reports the names added and removed.
//
// Before removing a peer it waits until the routes to it have stopped
// changing (removalQuiet, at most removalWaitMax): a route still being
// opened when the routes are closed would escape the removal.
func (s *Server) SetPeers(peers []Peer) (added, removed []string, err error) {
	if err := validatePeers(s.cfg.Name, peers); err != nil {
		return nil, nil, err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	srv, err := s.running()
	if err != nil {
		return nil, nil, fmt.Errorf("set peers: %w", err)
	}
	old, _ := s.check.current()
	next := newPeerSet(peers)
	for _, n := range next.names {
		if _, ok := old.byName[n]; !ok {
			added = append(added, n)
		}
	}
	for _, n := range old.names {
		if _, ok := next.byName[n]; !ok {
			removed = append(removed, n)
		}
	}
	changed := len(added) > 0 || len(removed) > 0
	for _, n := range next.names {
		changed = changed || old.byName[n] != next.byName[n]
	}
	if !changed {
		return nil, nil, nil
	}
	if len(removed) > 0 {
		s.waitRoutesQuiet(srv, removed)
	}
	s.check.setPeers(next)
	for _, n := range added {
		s.check.refusals.forget(n)
	}

	// Reloading the options is nats-server's one way to drop a configured
	// route for good: routes to removed addresses are closed without
	// redial, their redial loops end, and every accepted route is checked
	// again, so the routes a removed peer dialled are closed too.
	opts := s.opts.Clone()
	// The same objects: a fresh copy of a tls.Config or a user list never
	// compares equal and would reload TLS and users for nothing.
	opts.Cluster.TLSConfig, opts.Nkeys, opts.Users, opts.Accounts = s.opts.Cluster.TLSConfig, s.opts.Nkeys, s.opts.Users, s.opts.Accounts
	s.cfg.applyRoutes(opts, peers, s.check.mark)
	s.check.noteNodes() // the routes the reload closes are redialled (connectedNode)
	s.check.reloading.Store(true)
	err = srv.ReloadOptions(opts)
	s.check.reloading.Store(false)
	if err != nil {
		return added, removed, fmt.Errorf("set peers: reload routes: %w", err)
	}
	s.opts = opts
	for _, n := range removed {
		s.log.Info("peer removed: its routes are closed and it is no longer dialled", "peer", n)
	}
	for _, n := range added {
		s.log.Info("peer added", "peer", n, "route", next.byName[n].Route)
	}
	return added, removed, nil
}
