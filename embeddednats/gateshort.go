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
// A pinned account's route can end the same way with no redial to refuse:
// the stale dial registers at this server, this server's new dial of the
// account's route is closed here as its duplicate after the peer
// registered it, and the peer, which did not dial it, does not redial it;
// then the stale dial closes (the peer expires it) and nothing redials
// it. Both ends keep the whole pool and no account route, for good.
//
// So a refused redial of peer P, or any close of a route to P, starts a
// watch (at most one per peer): if
// this server's routes to P are still short of a whole pool (the pooled
// routes and those of the pinned accounts) after shortGrace, and P is not
// cut, P's routes move to their next generation and are dialled anew, as
// redialStale does. No dial of this server's is in flight then. The
// redial makes P redial for a moment too, so the watch bounds the redials
// to one per shortGrace per peer. A watch started by a route close
// redials only if P still has some routes here: with none, P is down or
// cutting this server, and a redial would only churn.

// shortGrace is how long a peer's routes may stay short of a whole pool
// while the peer redials one of them without credentials: longer than
// nats-server takes to fill a pool (a dial and a round trip per route)
// and to redial a route that closed (a second, routeReconnectDelay).
const shortGrace = 2 * time.Second

// routeRedialed is told (routeCheck.Check) of a route from peer refused
// because peer redials it without credentials.
func (s *Server) routeRedialed(peer string) {
	s.watchShort(peer, false)
}

// routeGone is told (routeCloses) of each route to peer that closed. It
// is called from nats-server's logging under the route's lock, which
// routeCheck takes under rc.mu (Check): so rc.mu is taken apart.
func (s *Server) routeGone(peer string) {
	s.goRunning(func() {
		if s.check.shortSeen(peer, time.Now(), true) {
			s.redialShort(peer, true)
		}
	})
}

// watchShort starts a watch of peer's routes (redialShort) unless one is
// pending; some (a route's close) says whether it redials only while some
// are left, and whether it restarts the grace of a pending watch: routes
// still closing are no sign of one left out. A refused redial does not
// restart it, as the peer repeats one about twenty times a second.
func (s *Server) watchShort(peer string, some bool) {
	if !s.check.shortSeen(peer, time.Now(), some) {
		return
	}
	// Called from nats-server's route handshake or its logging, which may
	// hold its locks: the watch runs apart.
	if !s.goRunning(func() { s.redialShort(peer, some) }) {
		s.check.endRedial(peer)
	}
}

// shortSeen notes that peer's routes were seen short at now (with rearm,
// also by a watch pending), and reports whether that starts a watch of
// them (redialShort), marking the redial pending: only for a peer this
// server dials (its route port is known), not cut, and with no redial
// pending already.
func (rc *routeCheck) shortSeen(peer string, now time.Time, rearm bool) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	p, ok := rc.peers.byName[peer]
	if !ok || !rc.chaos || rc.cutAll || rc.cut[peer] {
		return false
	}
	if _, port, _ := splitAddr(p.Route, true); port == 0 {
		return false
	}
	if rc.redialing[peer] {
		if _, watched := rc.shortSince[peer]; watched && rearm {
			rc.shortSince[peer] = now
		}
		return false
	}
	rc.redialing[peer] = true
	rc.shortSince[peer] = now
	return true
}

// shortFor is how long ago peer's routes were last seen short.
func (rc *routeCheck) shortFor(peer string, now time.Time) time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return now.Sub(rc.shortSince[peer])
}

// endRedial ends the pending redial of peer without one.
func (rc *routeCheck) endRedial(peer string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.redialing, peer)
	delete(rc.shortSince, peer)
}

// redialShort redials peer's routes unless they are whole again before
// shortGrace passed since they were last seen short, or, with some, none
// are left.
func (s *Server) redialShort(peer string, some bool) {
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
	for s.check.shortFor(peer, time.Now()) < shortGrace {
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
	if n := routeCount(srv, peer); n >= whole || some && n == 0 {
		s.check.endRedial(peer)
		return
	}
	if _, err := s.running(); err != nil {
		s.check.endRedial(peer)
		return
	}
	s.redial(srv, peer, shortWhy)
}

// shortWhy is the note of a redial by redialShort. One watch runs per
// peer, whichever started it (a refused redial or a route close).
const shortWhy = "routes short of a whole pool for a while, and nothing dialled them again"

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
