package embeddednats

import (
	"maps"
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
// So a refused redial of peer P, or a close of a route to P (but one that
// P refused or this server's reload removed: goneCounts), starts a watch
// (at most one per peer): if this server's routes to P are still short of
// a whole pool (the pooled routes and those of the pinned accounts) after
// shortGrace, and P is not cut, P's routes move to their next generation
// and are dialled anew, as redialStale does. No dial of this server's is
// in flight then. The
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

// routeGone is told (routeCloses) of each route connection rid to peer
// that closed (goneCounts). It is called from nats-server's logging under
// the route's lock, which routeCheck takes under rc.mu (Check): so rc.mu
// is taken apart.
func (s *Server) routeGone(peer string, rid uint64) {
	s.goRunning(func() {
		if s.check.shortSeen(peer, time.Now(), true, rid) {
			s.redialShort(peer, true)
		}
	})
}

// watchShort starts a watch of peer's routes (redialShort) unless one is
// pending; some says whether it redials only while some are left. A
// refused redial does not restart the grace of a pending watch, as the
// peer repeats one about twenty times a second.
func (s *Server) watchShort(peer string, some bool) {
	if !s.check.shortSeen(peer, time.Now(), some, 0) {
		return
	}
	// Called from nats-server's route handshake or its logging, which may
	// hold its locks: the watch runs apart.
	if !s.goRunning(func() { s.redialShort(peer, some) }) {
		s.check.endRedial(peer)
	}
}

// shortWatch is a pending watch of a peer's routes (redialShort).
//
// nats-server logs a route's close (and so tells routeGone) before it
// takes the route out of the server's routes, so Routez may still list a
// route whose close the watch was told of: counted, it would make the
// routes look whole, and the watch would end with nobody left to see
// them short. So the watch does not count the routes it was told closed
// (gone), and it ends only if no close came in since it counted (closes):
// a close after that starts a new watch, or restarts this one's grace.
type shortWatch struct {
	since  time.Time       // when the routes were last seen short
	closes uint64          // the route closes told since the watch began
	gone   map[uint64]bool // their connection ids, at most maxRepeats
}

// shortSeen notes that peer's routes were seen short at now, by a
// route's close (rearm; rid is the route's id, 0 if unknown) or a
// refused redial, and reports whether that starts a watch of them
// (redialShort), marking the redial pending: only for a peer this server
// dials (its route port is known), not cut, and with no redial pending
// already. A close also restarts the grace of a pending watch.
func (rc *routeCheck) shortSeen(peer string, now time.Time, rearm bool, rid uint64) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	p, ok := rc.peers.byName[peer]
	if !ok || !rc.chaos || rc.cutAll || rc.cut[peer] {
		return false
	}
	if _, port, _ := splitAddr(p.Route, true); port == 0 {
		return false
	}
	w := rc.shorts[peer]
	if rc.redialing[peer] {
		if w != nil && rearm {
			w.closed(now, rid)
		}
		return false
	}
	w = &shortWatch{since: now, gone: make(map[uint64]bool)}
	if rearm {
		w.closed(now, rid)
	}
	rc.redialing[peer] = true
	rc.shorts[peer] = w
	return true
}

// closed notes a route's close at now.
func (w *shortWatch) closed(now time.Time, rid uint64) {
	w.since = now
	w.closes++
	if rid == 0 {
		return
	}
	if len(w.gone) >= maxRepeats {
		clear(w.gone) // a watch restarted by close after close: forget them
	}
	w.gone[rid] = true
}

// shortState returns a copy of peer's pending watch (zero if none).
func (rc *routeCheck) shortState(peer string) shortWatch {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	w := rc.shorts[peer]
	if w == nil {
		return shortWatch{}
	}
	return shortWatch{since: w.since, closes: w.closes, gone: maps.Clone(w.gone)}
}

// endRedial ends the pending redial of peer without one.
func (rc *routeCheck) endRedial(peer string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.redialing, peer)
	delete(rc.shorts, peer)
}

// endQuiet ends peer's pending watch without a redial, unless a route's
// close was told since it had seen closes of them; it reports whether it
// ended.
func (rc *routeCheck) endQuiet(peer string, closes uint64) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if w := rc.shorts[peer]; w != nil && w.closes != closes {
		return false
	}
	delete(rc.redialing, peer)
	delete(rc.shorts, peer)
	return true
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
	for {
		select {
		case <-s.closed:
			s.check.endRedial(peer)
			return
		case <-tick.C:
		}
		w := s.check.shortState(peer)
		if routeCount(srv, peer, w.gone) >= whole {
			if s.check.endQuiet(peer, w.closes) {
				return
			}
			continue
		}
		if time.Since(w.since) >= shortGrace && s.redialIfShort(srv, peer, some, whole) {
			return
		}
	}
}

// redialIfShort redials peer's routes, at the end of a watch's grace,
// unless they are whole or, with some, none are left; it reports whether
// the watch ended (not if a route's close came in meanwhile).
func (s *Server) redialIfShort(srv *server.Server, peer string, some bool, whole int) bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	w := s.check.shortState(peer)
	if n := routeCount(srv, peer, w.gone); n >= whole || some && n == 0 {
		return s.check.endQuiet(peer, w.closes)
	}
	if _, err := s.running(); err != nil {
		s.check.endRedial(peer)
		return true
	}
	s.redial(srv, peer, shortWhy)
	return true
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

// routeCount counts srv's route connections to the server named peer,
// but those in gone.
func routeCount(srv *server.Server, peer string, gone map[uint64]bool) int {
	rz, err := srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range rz.Routes {
		if r.RemoteName == peer && !gone[r.Rid] {
			n++
		}
	}
	return n
}
