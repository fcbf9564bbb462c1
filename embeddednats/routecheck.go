package embeddednats

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// routeCheck decides, on the accepting side, whether a route may join: it
// is nats-server's CustomRouterAuthentication, so it does the route user
// and password check itself, plus what nats-server cannot: which node is
// dialling (from the route user, see Config.routeUser), whether that node
// is a peer, and whether its certificate names that node's host.
//
// A refusal is held before it is answered (see refusals): the dialling
// server waits for the answer before it can redial, so every refused
// route backs off, whoever dialled it and however it learned the address.
// While held, the dialler counts the route as registered, so gossip does
// not start another dial to the same server meanwhile.
type routeCheck struct {
	self       string
	user       string // the route user every dialler must present
	password   []byte // nil: no password required
	hint       string // where the password comes from, for refusals
	peersOnly  bool
	verifyCert bool // route TLS verifies the dialler's certificate
	closed     <-chan struct{}
	log        *slog.Logger
	refusals   *refusals

	// reloading is set while SetPeers reloads the options: nats-server
	// checks every accepted route again then, and a refusal is answered
	// at once and logged by SetPeers instead.
	reloading atomic.Bool
	held      atomic.Int64 // refusals being held now

	chaos bool // the chaos gate is on (Config.Chaos)
	// liveRoutes, set once the server runs, lists its route connections
	// (gate.go), and remoteNodes the nodes they lead to, by server ID.
	liveRoutes  func() map[uint64]bool
	remoteNodes func() map[string]string
	// spawn, set once the server runs, runs a function on a goroutine
	// the server waits for at Close, and reports false when the server
	// does not run (gatecheck.go closeRoutes).
	spawn func(func()) bool
	// onRedialed, set before the server runs with the chaos gate on, is
	// told of the node whose redial without credentials was refused
	// (causeRedialed; gateshort.go).
	onRedialed func(node string)

	mu      sync.Mutex    // guards the fields below
	peers   *peerSet      // current peers
	changed chan struct{} // closed and replaced when peers or cuts change
	// refused are the route connections refused here, by id, with when:
	// nats-server logs its own, vaguer line for each (and, for a held
	// one, that its read loop was slow), which the logger demotes.
	refused map[uint64]time.Time
	// The chaos gate (gate.go): the peers whose routes are cut, or all
	// of them, and the routes let in, which a cut closes.
	cutAll   bool
	cut      map[string]bool
	accepted map[uint64]acceptedRoute
	// closing are the routes a cut closes once they register, and closer
	// whether closeRegistered is running for them.
	closing map[uint64]acceptedRoute
	closer  bool
	// gen is the generation of this server's routes to each peer
	// (routeMark): it grows each time the gate cuts or heals them.
	gen map[string]uint64
	// healed is when the gate last stopped cutting something, healedAt
	// when it last healed each peer's routes, and redialing the peers
	// whose routes a redial is pending for (gate.go routeRefused).
	healed    time.Time
	healedAt  map[string]time.Time
	redialing map[string]bool
	// shorts are the pending watches of peers' routes (redialShort,
	// gateshort.go).
	shorts map[string]*shortWatch
	// nodeIDs are the server IDs of the nodes this server had routes to
	// when it last looked (before each reload, see connectedNode).
	nodeIDs map[string]string
}

var _ server.Authentication = (*routeCheck)(nil)

func newRouteCheck(c Config, log *slog.Logger, closed <-chan struct{}, peers *peerSet) *routeCheck {
	rc := &routeCheck{
		self: c.Name, user: c.RouteUser, hint: c.RoutePasswordHint, peersOnly: c.PeersOnly,
		verifyCert: c.RouteTLS != nil && c.RouteTLS.ClientAuth == tls.RequireAndVerifyClientCert,
		closed:     closed, log: log, refusals: newRefusals(time.Now, log),
		peers: peers, changed: make(chan struct{}), refused: make(map[uint64]time.Time),
		chaos: c.Chaos, cut: make(map[string]bool), accepted: make(map[uint64]acceptedRoute), closing: make(map[uint64]acceptedRoute), gen: make(map[string]uint64),
		healedAt: make(map[string]time.Time), redialing: make(map[string]bool), shorts: make(map[string]*shortWatch), nodeIDs: make(map[string]string),
	}
	if c.RoutePassword != "" {
		rc.password = []byte(c.RoutePassword)
	}
	if rc.hint == "" {
		rc.hint = "the route password"
	}
	return rc
}

func (rc *routeCheck) setPeers(ps *peerSet) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.peers = ps
	close(rc.changed)
	rc.changed = make(chan struct{})
}

func (rc *routeCheck) current() (*peerSet, <-chan struct{}) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.peers, rc.changed
}

// noteRefused remembers that route connection id was refused here.
func (rc *routeCheck) noteRefused(id uint64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	now := time.Now()
	for k, t := range rc.refused { // refused connections are few: prune as we go
		if now.Sub(t) > 2*refusalHoldMax {
			delete(rc.refused, k)
		}
	}
	if len(rc.refused) >= maxRepeats {
		clear(rc.refused) // their lines are logged at their own level then
	}
	rc.refused[id] = now
}

// wasRefused reports whether route connection id was refused here lately.
func (rc *routeCheck) wasRefused(id uint64) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, ok := rc.refused[id]
	return ok
}

// causeRedialed is the refusal cause of a peer's route without
// credentials that nats-server redials (judge).
const causeRedialed = "redialed"

// refusal is why a route is refused: its cause, for the backoff and the
// log, and the line that says so.
type refusal struct {
	cause string
	msg   string
}

// Check implements server.Authentication for routes.
func (rc *routeCheck) Check(c server.ClientAuthentication) bool {
	ps, changed := rc.current()
	name, why := rc.decide(c, ps)
	if why == nil {
		rc.letIn(c.GetOpts().Name, name)
		rc.refusals.accepted(name)
		return true
	}
	rc.noteRefused(c.GetID())
	if rc.reloading.Load() {
		return false
	}
	var hold time.Duration
	switch why.cause {
	case causeChaos:
		// A chaos cut is no fault: no error line, no backoff. Held until
		// the cut heals (answered yes then, so a heal takes effect at
		// once), or for chaosHold.
		rc.log.Debug(why.msg)
		hold = chaosHold
	case causeRedialed:
		// No fault of the peer's, and its redial ends at once once this
		// server's own route is in place there (it is then the duplicate);
		// if this server no longer dials that route, onRedialed does.
		rc.log.Debug(why.msg)
		if rc.onRedialed != nil {
			rc.onRedialed(name)
		}
	case causeChaosMarked:
		// Answered at once: the dialler, not this node, will heal it, by
		// dialling unmarked; a held marked route would count as
		// registered at the dialler meanwhile, and hold up the new one.
		rc.log.Debug(why.msg)
	default:
		key := name
		if key == "" {
			key = hostOf(c.RemoteAddress())
		}
		hold = rc.refusals.refused(key, why)
	}
	if hold <= 0 {
		return false
	}
	// Each held refusal keeps its connection and read loop: bound them,
	// so that many refused connections at once cost no more than that.
	if rc.held.Add(1) > maxHeldRefusals {
		rc.held.Add(-1)
		return false
	}
	defer rc.held.Add(-1)
	t := time.NewTimer(hold)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return false
		case <-rc.closed:
			return false
		case <-changed:
			// The peers or cuts changed while this dialler waited: a node
			// just added to the herd, or whose cut healed, is let in now.
			ps, changed = rc.current()
			if _, why := rc.decide(c, ps); why == nil {
				rc.refusals.accepted(name)
				return true
			}
		}
	}
}

// decide is judge, then the chaos gate for a route judge lets in.
func (rc *routeCheck) decide(c server.ClientAuthentication, ps *peerSet) (string, *refusal) {
	name, why := rc.judge(c, ps)
	if why == nil {
		why = rc.admit(c, name)
	}
	return name, why
}

// judge returns the node the dialler claims to be (or, for a redial
// without credentials, the node whose server ID it presents) and, if it
// may not join, why.
func (rc *routeCheck) judge(c server.ClientAuthentication, ps *peerSet) (string, *refusal) {
	opts := c.GetOpts()
	name, user, _ := splitRouteUser(opts.Username)
	from := hostOf(c.RemoteAddress())
	who := from
	if name != "" {
		who = name + " (" + from + ")"
	}
	switch {
	case name == "" && (rc.peersOnly || rc.password != nil):
		if node := rc.connectedNode(opts.Name); node != "" {
			// nats-server redials a route it accepted, which a duplicate
			// dial marked for retry, with no credentials (it keeps none
			// for it). Answered at once: held, it would take the place of
			// the route this server dials there, closed as its duplicate
			// meanwhile.
			return node, &refusal{causeRedialed, fmt.Sprintf("route from %s refused: %s redials a route this node dialled, without credentials (nats-server keeps none for it)", from, node)}
		}
		return "", &refusal{"no-name", fmt.Sprintf("route from %s refused: it does not say which node it is (not a herd node, or an older one)", from)}
	case name == rc.self:
		return name, &refusal{"self", fmt.Sprintf("route from %s refused: it connects as this node's own name (two nodes with one name?)", who)}
	}
	if rc.password != nil {
		switch {
		case user != rc.user:
			return name, &refusal{"user", fmt.Sprintf("route user mismatch with %s: it presents user %q, this node wants %q", who, user, rc.user)}
		case opts.Password == "":
			return name, &refusal{"password", fmt.Sprintf("route from %s has no password: check %s on %s", who, rc.hint, or(name, from))}
		case subtle.ConstantTimeCompare([]byte(opts.Password), rc.password) != 1:
			return name, &refusal{"password", fmt.Sprintf("route password mismatch with %s: check %s", who, rc.hint)}
		}
	}
	if !rc.peersOnly {
		return name, nil
	}
	host, ok := ps.host(name)
	if !ok {
		return name, &refusal{"stranger", fmt.Sprintf("route from %s refused: %s is not a peer of this node (not in its herd file: add it and reload, or stop it)", who, name)}
	}
	if !rc.verifyCert {
		return name, nil
	}
	var leaf *x509.Certificate
	if cs := c.GetTLSConnectionState(); cs != nil && len(cs.PeerCertificates) > 0 {
		leaf = cs.PeerCertificates[0]
	}
	switch {
	case leaf == nil:
		return name, &refusal{"certificate", fmt.Sprintf("route from %s refused: no TLS certificate", who)}
	case leaf.VerifyHostname(host) != nil:
		return name, &refusal{"certificate", fmt.Sprintf("certificate for %s presented by a node connecting as %s (%s): %s's route certificate must name %s",
			certNames(leaf), name, from, name, host)}
	}
	return name, nil
}

// connectedNode is the node whose server ID is id among those this
// server has routes to, or had before its last reload (which closed the
// routes the node redials), or let a route in from, or "".
func (rc *routeCheck) connectedNode(id string) string {
	if id == "" {
		return ""
	}
	rc.noteNodes()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.nodeIDs[id]
}

// noteNodes remembers the server IDs of the nodes this server has routes
// to now (a node's ID lasts as long as its process: the few a herd
// restarts are forgotten when the list grows).
func (rc *routeCheck) noteNodes() {
	if rc.remoteNodes == nil {
		return
	}
	nodes := rc.remoteNodes()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.nodeIDs)+len(nodes) > maxRepeats {
		clear(rc.nodeIDs)
	}
	for id, name := range nodes {
		rc.nodeIDs[id] = name
	}
}

// letIn remembers that the node name, with server ID id, dialled a route
// this server let in: a node that never reloads notes the nodes it has
// routes to only when it refuses one, and may have none to a node that
// redials a route it accepted from there, after a cut closed them all.
func (rc *routeCheck) letIn(id, name string) {
	if id == "" || name == "" {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.nodeIDs[id] == name {
		return
	}
	if len(rc.nodeIDs) >= maxRepeats {
		clear(rc.nodeIDs)
	}
	rc.nodeIDs[id] = name
}

// certNames lists what a certificate is for: its DNS and IP SANs, else
// its common name.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = append(names, c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}

func hostOf(a net.Addr) string {
	if a == nil {
		return "?"
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
