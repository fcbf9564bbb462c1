package embeddednats

import (
	"fmt"
	"maps"
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

// acceptedRoute is a route let in here, kept so that a cut can close it.
type acceptedRoute struct {
	name string
	gen  uint64 // its dialler's route generation (routeMark)
	c    server.ClientAuthentication
	at   time.Time
}

// admit applies the chaos gate to a route judge lets in, and remembers it
// so that a later cut can close it. A route its dialler marked cut is
// refused whether or not the gate is on here, and closes the routes let
// in from that dialler before.
func (rc *routeCheck) admit(c server.ClientAuthentication, name string) *refusal {
	_, _, mark := splitRouteUser(c.GetOpts().Username)
	who := hostOf(c.RemoteAddress())
	if name != "" {
		who = name + " (" + who + ")"
	}
	if mark.cut {
		rc.closeRoutes(func(a acceptedRoute) bool { return a.name == name && a.gen < mark.gen })
		return &refusal{causeChaosMarked, fmt.Sprintf("route from %s refused: %s has cut its route to this node (herd chaos)", who, name)}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.chaos && (rc.cutAll || rc.cut[name]) && rc.reloading.Load() && rc.letInLocked(c.GetID()) {
		// A reload checks every registered route again. One let in before
		// the cut is closed by closeRoutes, which BlockRoutes calls right
		// after its reload (or by closeRegistered, which is waiting for
		// it): refused by the reload instead, nats-server would report it
		// from the reload's goroutine, reading the route's counters while
		// its read loop adds to them (a data race in nats-server).
		return nil
	}
	switch {
	case rc.chaos && rc.cutAll:
		return &refusal{causeChaos, fmt.Sprintf("route from %s refused: this node is stopped (herd chaos)", who)}
	case rc.chaos && rc.cut[name]:
		return &refusal{causeChaos, fmt.Sprintf("route from %s refused: the route is cut (herd chaos)", who)}
	case name == "":
		return nil
	}
	// Under mu with the check above: a cut either refuses this route or
	// finds it here to close.
	if len(rc.accepted) >= acceptedPrune && rc.liveRoutes != nil {
		rc.pruneLocked(rc.liveRoutes(), time.Now())
	}
	rc.accepted[c.GetID()] = acceptedRoute{name: name, gen: mark.gen, c: c, at: time.Now()}
	return nil
}

// letInLocked reports whether route connection id was let in here and is
// tracked, to be closed by a cut (rc.accepted) or being closed by one
// (rc.closing). rc.mu is held.
func (rc *routeCheck) letInLocked(id uint64) bool {
	_, ok := rc.accepted[id]
	if !ok {
		_, ok = rc.closing[id]
	}
	return ok
}

// pruneLocked forgets the routes let in that are gone: not among live
// (the server's route connections) and older than acceptedGrace. rc.mu
// is held.
func (rc *routeCheck) pruneLocked(live map[uint64]bool, now time.Time) {
	for id, a := range rc.accepted {
		if !live[id] && now.Sub(a.at) > acceptedGrace {
			delete(rc.accepted, id)
		}
	}
}

// mark is how this server marks its routes to peer name.
func (rc *routeCheck) mark(name string) routeMark {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return routeMark{cut: rc.cutAll || rc.cut[name], gen: rc.gen[name]}
}

// cutting reports whether the gate cuts any route now, or did within
// chaosHold: a route of this node refused then is the tail of a cut (a
// peer healing a moment later, or still holding a refusal).
func (rc *routeCheck) cutting() bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.cutAll || len(rc.cut) > 0 || time.Since(rc.healed) < chaosHold
}

// setBlock replaces what the gate cuts, moves the routes to peers cut or
// healed to their next generation, and wakes the held refusals.
func (rc *routeCheck) setBlock(b RouteBlock, peers []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	was := make(map[string]bool, len(peers))
	for _, p := range peers {
		was[p] = rc.cutAll || rc.cut[p]
	}
	if rc.cutAll || len(rc.cut) > 0 {
		rc.healed = time.Now()
	}
	rc.cutAll = b.All
	clear(rc.cut)
	for _, p := range b.Peers {
		rc.cut[p] = true
	}
	now := time.Now()
	for _, p := range peers {
		if cut := rc.cutAll || rc.cut[p]; cut != was[p] {
			rc.gen[p]++
			if !cut {
				rc.healedAt[p] = now
			}
		}
	}
	close(rc.changed)
	rc.changed = make(chan struct{})
}

// staleRefused reports whether a route to peer that peer refused (or
// expired) is the tail of a cut this gate healed, to be made good by a
// redial (routeRefused), and if so marks the redial pending.
func (rc *routeCheck) staleRefused(peer string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	at, ok := rc.healedAt[peer]
	if !rc.chaos || rc.cutAll || rc.cut[peer] || rc.redialing[peer] || !ok || time.Since(at) > healTail {
		return false
	}
	rc.redialing[peer] = true
	return true
}

// nextGen ends the pending redial of peer: unless the gate cut peer
// meanwhile, it moves peer's routes to their next generation and reports
// true.
func (rc *routeCheck) nextGen(peer string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.redialing, peer)
	delete(rc.shorts, peer)
	if rc.cutAll || rc.cut[peer] {
		return false
	}
	rc.gen[peer]++
	return true
}

// closeRoutes closes every route let in here that close selects, and
// forgets the routes that are gone.
//
// nats-server has no call that closes one route. A custom authenticator
// may register an expiry on the connections it lets in (User's
// ConnectionDeadline); registering one that has passed closes the
// connection at once ("User Authentication Expired", which only a cut
// causes in a herd).
//
// Only a registered route is closed so: the expiry closes the connection
// on a goroutine of its own, and nats-server registers a route (once its
// INFO arrived) without looking whether it closed meanwhile. A route that
// closes before it registers is removed from nothing and then registered,
// closed: a dead connection in the route pool that the peer's dials for
// that slot meet as their duplicate, for as long as the server runs (a
// heal that never brings all routes back). A route let in and not yet
// registered is closed once it registers (closeRegistered).
func (rc *routeCheck) closeRoutes(close func(acceptedRoute) bool) {
	var live map[uint64]bool
	if rc.liveRoutes != nil {
		live = rc.liveRoutes()
	}
	now := time.Now()
	var victims []server.ClientAuthentication
	rc.mu.Lock()
	for id, a := range rc.accepted {
		if !close(a) {
			continue
		}
		delete(rc.accepted, id)
		if live == nil || live[id] {
			victims = append(victims, a.c)
		} else {
			rc.closing[id] = a
		}
	}
	if live != nil {
		rc.pruneLocked(live, now)
	}
	start := len(rc.closing) > 0 && !rc.closer
	rc.closer = start || rc.closer
	rc.mu.Unlock()
	expire(victims, now)
	if start && (rc.spawn == nil || !rc.spawn(rc.closeRegistered)) {
		// Starting or stopping: nothing to wait with.
		rc.mu.Lock()
		victims = victims[:0]
		for id, a := range rc.closing {
			victims = append(victims, a.c)
			delete(rc.closing, id)
		}
		rc.closer = false
		rc.mu.Unlock()
		expire(victims, now)
	}
}

// closeRegistered closes the routes in rc.closing as each registers, and
// forgets those that closed before (a duplicate, or a dialler that went
// away) or did not register within acceptedGrace. It returns once none
// is left.
func (rc *routeCheck) closeRegistered() {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-rc.closed:
			return
		case <-tick.C:
		}
		rc.mu.Lock()
		waiting := maps.Clone(rc.closing)
		rc.mu.Unlock()
		// Outside rc.mu: RemoteAddress takes the connection's lock,
		// under which nats-server logs (and the logger takes rc.mu).
		live, now := rc.liveRoutes(), time.Now()
		var victims []server.ClientAuthentication
		done := map[uint64]bool{}
		for id, a := range waiting {
			switch {
			case live[id]:
				victims = append(victims, a.c)
				done[id] = true
			case a.c.RemoteAddress() == nil, now.Sub(a.at) > acceptedGrace:
				done[id] = true
			}
		}
		rc.mu.Lock()
		for id := range done {
			delete(rc.closing, id)
		}
		last := len(rc.closing) == 0
		if last {
			rc.closer = false
		}
		rc.mu.Unlock()
		expire(victims, now)
		if last {
			return
		}
	}
}

// expire closes the route connections cs (see closeRoutes).
func expire(cs []server.ClientAuthentication, now time.Time) {
	for _, c := range cs {
		c.RegisterUser(&server.User{ConnectionDeadline: now})
	}
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
