package embeddednats

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A peer's redial without credentials (causeRedialed) is refused here: it
// ends once this server's own route for that place of the route pool is
// in place at the peer. Mostly it is, within a dial: this server dials
// every place of its pool to a peer, and redials a route that closes.
// After a quick cut and heal it may not be. A dial this server started
// before a reload, still in flight (not registered, so the reload does
// not close it), registers after it, in a place of the pool, so the
// reload's new dials leave that place alone. The peer closes it as the
// duplicate of its route from before, still in that place, and marks
// that route for retry; this server does not redial it (its address is
// no longer configured). The peer's old route then closes, and the peer
// redials it without credentials, refused here at once, about twenty
// times a second: nothing dials that place any more, for as long as both
// run.
//
// So a refused redial of peer P starts a watch (at most one per peer): if
// this server's routes to P are still short of a whole pool (the pooled
// routes and those of the pinned accounts) after shortGrace, and P is not
// cut, P's routes move to their next generation and are dialled anew, as
// redialStale does. No dial of this server's is in flight then. The
// redial makes P redial for a moment too, so the watch bounds the redials
// to one per shortGrace per peer.

// shortGrace is how long a peer's routes may stay short of a whole pool
// while the peer redials one of them without credentials: longer than
// nats-server takes to fill a pool (a dial and a round trip per route)
// and to redial a route that closed (a second, routeReconnectDelay).
const shortGrace = 2 * time.Second

// routeRedialed is told (routeCheck.Check) of a route from peer refused
// because peer redials it without credentials.
func (s *Server) routeRedialed(peer string) {
	if !s.check.shortRedialed(peer) {
		return
	}
	// Called from nats-server's route handshake: the watch runs apart.
	if !s.goRunning(func() { s.redialShort(peer) }) {
		s.check.endRedial(peer)
	}
}

// shortRedialed reports whether a refused redial of peer starts a watch
// of peer's routes (redialShort), and if so marks the redial pending:
// only for a peer this server dials (its route port is known), not cut.
func (rc *routeCheck) shortRedialed(peer string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	p, ok := rc.peers.byName[peer]
	if !ok || !rc.chaos || rc.cutAll || rc.cut[peer] || rc.redialing[peer] {
		return false
	}
	if _, port, _ := splitAddr(p.Route, true); port == 0 {
		return false
	}
	rc.redialing[peer] = true
	return true
}

// endRedial ends the pending redial of peer without one.
func (rc *routeCheck) endRedial(peer string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.redialing, peer)
}

// redialShort redials peer's routes unless they are whole again within
// shortGrace.
func (s *Server) redialShort(peer string) {
	srv, err := s.running()
	if err != nil {
		s.check.endRedial(peer)
		return
	}
	s.reloadMu.Lock()
	whole := wholePool(s.opts)
	s.reloadMu.Unlock()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	deadline := time.Now().Add(shortGrace)
	for time.Now().Before(deadline) {
		select {
		case <-s.closed:
			s.check.endRedial(peer)
			return
		case <-tick.C:
		}
		if routeCount(srv, peer) >= whole {
			s.check.endRedial(peer)
			return
		}
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if _, err := s.running(); err != nil || routeCount(srv, peer) >= whole {
		s.check.endRedial(peer)
		return
	}
	s.redial(srv, peer, "the peer redials a route of this node's without credentials, and this node dialled that route no more")
}

// wholePool is how many route connections opts make to each peer: the
// pooled ones and one per pinned account (nats-server fills in the
// defaults of the options it runs with).
func wholePool(opts *server.Options) int {
	return max(opts.Cluster.PoolSize, 1) + len(opts.Cluster.PinnedAccounts)
}

// routeCount counts srv's route connections to the server named peer.
func routeCount(srv *server.Server, peer string) int {
	rz, err := srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range rz.Routes {
		if r.RemoteName == peer {
			n++
		}
	}
	return n
}
