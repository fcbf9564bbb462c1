package embeddednats

import (
	"fmt"
	"maps"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The gate's bookkeeping in routeCheck: which peers are cut, the routes
// let in here that a cut must close, and the refusals it holds. What a cut
// does to the running server (reloads, redials) is in gate.go.

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
