package embeddednats

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The chaos gate cuts this server's routes to chosen peers (herd chaos),
// inside nats-server's route authentication, so it works the same with
// route TLS and without: the dialling node is named by its route user
// (peers.go), which the accepting side reads after the TLS handshake.
//
// A cut of peer P, applied by BlockRoutes on this server:
//   - refuses every route P dials here (routeCheck.admit), holding the
//     refusal until the cut heals (then the route is let in at once) or
//     for chaosHold;
//   - dials P with the route user marked cut (routeMark), which P refuses
//     at once whatever its own cuts, so the cut holds even when only this
//     end applied it (the marked route is redialled about once a second);
//     P stays a configured route, so gossip never makes this server dial
//     it unmarked;
//   - closes the routes P dialled here (expired, see closeRoutes) and
//     those this server dialled to P (a reload drops their old URL); P,
//     refusing the marked dial, closes the routes it let in from here,
//     which also takes the one a reload cannot: a pooled connection being
//     opened at that very moment, not yet registered.
//
// Healing reverses each: held refusals are let in, P is dialled unmarked.
// Every cut is applied by each end for the other (the chaos service does
// both), though one end alone holds it too.

const (
	// causeChaos is the refusal cause of a chaos cut here, and
	// causeChaosMarked of a route its dialler cut.
	causeChaos       = "chaos"
	causeChaosMarked = "chaos-marked"
	// chaosHold bounds how long a route refused by a cut is held before
	// the refusal is answered (and the route redialled, and held again):
	// long enough that a cut costs nothing, short enough that a dialler
	// whose connection died meanwhile does not pin a read loop for long.
	chaosHold = 30 * time.Second
	// acceptedGrace keeps a route just let in tracked though the server's
	// route list does not show it yet (it registers a route only once
	// the route's INFO arrived).
	acceptedGrace = 10 * time.Second
	// acceptedPrune: with this many routes tracked, those gone are
	// forgotten at the next one let in.
	acceptedPrune = 256
	// healTail is how long after a heal a route to the healed peer that
	// the peer refuses is taken for a marked route of the cut (see
	// routeRefused): one dialled just before the heal is refused within a
	// dial, a handshake and a round trip.
	healTail = 10 * time.Second
)

// RouteBlock is what BlockRoutes cuts.
type RouteBlock struct {
	// All cuts every route: the node is stopped.
	All bool
	// Peers are the peers whose routes are cut.
	Peers []string
}

// BlockRoutes sets what the chaos gate cuts: every route (b.All, a stopped
// node) or the routes to b.Peers, replacing the last call's. It returns
// once routes to newly cut peers are being closed and the cut ones are no
// longer dialled unmarked, and healed peers are let in and dialled.
func (s *Server) BlockRoutes(b RouteBlock) error {
	if !s.cfg.Chaos {
		return fmt.Errorf("block routes: %w", ErrNoChaos)
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	srv, err := s.running()
	if err != nil {
		return fmt.Errorf("block routes: %w", err)
	}
	ps, _ := s.check.current()
	for _, p := range b.Peers {
		if _, ok := ps.byName[p]; !ok {
			return fmt.Errorf("block routes to %q: %w", p, ErrUnknownPeer)
		}
	}
	s.check.setBlock(b, ps.names)
	if err := s.reloadMarks(srv, ps); err != nil {
		return fmt.Errorf("block routes: %w", err)
	}
	s.check.closeRoutes(func(a acceptedRoute) bool { return b.All || slices.Contains(b.Peers, a.name) })
	return nil
}

// reloadMarks reloads the routes this server dials to the peers ps if
// their marks changed (routeMark): routes whose URL changed are closed
// without redial and dialled anew with the new user. s.reloadMu is held.
func (s *Server) reloadMarks(srv *server.Server, ps *peerSet) error {
	opts := s.opts.Clone()
	// The same objects, as in SetPeers: a fresh copy would reload TLS and
	// users for nothing.
	opts.Cluster.TLSConfig, opts.Nkeys, opts.Users, opts.Accounts = s.opts.Cluster.TLSConfig, s.opts.Nkeys, s.opts.Users, s.opts.Accounts
	peers := make([]Peer, 0, len(ps.names))
	for _, n := range ps.names {
		peers = append(peers, ps.byName[n])
	}
	s.cfg.applyRoutes(opts, peers, s.check.mark)
	if slices.EqualFunc(opts.Routes, s.opts.Routes, sameURL) {
		return nil
	}
	s.check.noteNodes()
	s.check.reloading.Store(true)
	err := srv.ReloadOptions(opts)
	s.check.reloading.Store(false)
	if err != nil {
		return fmt.Errorf("reload routes: %w", err)
	}
	s.opts = opts
	return nil
}

// routeRefused is told of each route to peer that peer refused or
// expired (routeCloses). Soon after a heal, that is a marked route of the
// cut this server dialled just before the heal: the reload that healed it
// could not close it, not yet registered, and it took the place (its
// pooled slot, or its account's route) of the unmarked route the heal
// dialled, which nats-server closed as a duplicate, without redial. Its
// own redial ends at once (its URL is no longer configured), so nothing
// would fill that place again: peer's routes are redialled, in their next
// generation, once the refused one is gone.
func (s *Server) routeRefused(peer string, rid uint64) {
	// Called from nats-server's logging, under the route's lock, which
	// routeCheck takes under rc.mu (Check): rc.mu and the reload are
	// taken apart.
	s.goRunning(func() {
		if s.check.staleRefused(peer) {
			s.redialStale(peer, rid)
		}
	})
}

// goRunning runs f on a goroutine that Close waits for, unless the server
// is not running (starting or stopping); it reports whether it did.
func (s *Server) goRunning(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// redialStale waits until route rid is gone (nats-server logs its close
// before it frees its place), then redials peer's routes.
func (s *Server) redialStale(peer string, rid uint64) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	deadline := time.Now().Add(healTail)
	for s.check.liveRoutes()[rid] && time.Now().Before(deadline) {
		select {
		case <-s.closed:
			return
		case <-tick.C:
		}
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	srv, err := s.running()
	if err != nil {
		s.check.endRedial(peer)
		return
	}
	s.redial(srv, peer, "a route dialled before the heal took the place of one dialled after it")
}

// redial ends the pending redial of peer: unless the gate cut peer
// meanwhile, it dials peer's routes anew, in their next generation, and
// says why. s.reloadMu is held.
func (s *Server) redial(srv *server.Server, peer, why string) {
	if !s.check.nextGen(peer) {
		return
	}
	ps, _ := s.check.current()
	if err := s.reloadMarks(srv, ps); err != nil {
		s.log.Warn("redial routes", "peer", peer, "why", why, "err", err)
		return
	}
	s.log.Info("routes redialled: "+why, "peer", peer)
}

// liveRoutes are the ids of srv's route connections.
func liveRoutes(srv *server.Server) map[uint64]bool {
	live := map[uint64]bool{}
	if rz, err := srv.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			live[r.Rid] = true
		}
	}
	return live
}

// remoteNodes maps the server IDs of srv's route connections to the
// remote servers' names.
func remoteNodes(srv *server.Server) map[string]string {
	nodes := map[string]string{}
	if rz, err := srv.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			if r.RemoteID != "" && r.RemoteName != "" {
				nodes[r.RemoteID] = r.RemoteName
			}
		}
	}
	return nodes
}

// Blocked returns what the chaos gate cuts now.
func (s *Server) Blocked() RouteBlock {
	rc := s.check
	rc.mu.Lock()
	defer rc.mu.Unlock()
	b := RouteBlock{All: rc.cutAll}
	for p := range rc.cut {
		b.Peers = append(b.Peers, p)
	}
	slices.Sort(b.Peers)
	return b
}

// sameURL compares route URLs with their user info.
func sameURL(a, b *url.URL) bool { return a.String() == b.String() }
