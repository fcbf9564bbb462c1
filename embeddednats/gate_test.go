package embeddednats

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// chaosMesh starts A, B and C with the chaos gate, route credentials and,
// with ca set, route TLS, each a configured route of the others, and
// returns them with their logs from info level.
func chaosMesh(t *testing.T, ca *testPKI) (servers []*Server, logs []*captureHandler) {
	t.Helper()
	names := []string{"A", "B", "C"}
	started := map[string]string{} // name → cluster address
	for _, name := range names {
		c := testConfig(t, name)
		withRouteAuth("right-horse-battery")(&c)
		c.PeersOnly, c.Chaos = true, true
		if ca != nil {
			c.RouteTLS = routeTLS(t, ca, ca, name)
		}
		for _, p := range names {
			if p == name {
				continue
			}
			addr, ok := started[p]
			if !ok {
				addr = "127.0.0.1:0" // not started yet: it dials this one
			}
			c.Peers = append(c.Peers, Peer{Name: p, Route: addr})
		}
		l := newCapture(slog.LevelInfo)
		c.Logger = slog.New(teeHandler{l, c.Logger.Handler()})
		s := startServer(t, c)
		started[name] = s.ClusterAddr()
		servers, logs = append(servers, s), append(logs, l)
	}
	// Every address is known now: every peer is a configured route.
	for _, s := range servers {
		var peers []Peer
		for _, p := range names {
			if p != s.Name() {
				peers = append(peers, Peer{Name: p, Route: started[p]})
			}
		}
		if _, _, err := s.SetPeers(peers); err != nil {
			t.Fatal(err)
		}
	}
	waitMesh(t, servers...)
	waitRoutesSettled(t, servers...)
	return servers, logs
}

// wantPeers polls until every server has exactly the route peers given.
func wantPeers(t *testing.T, what string, want map[*Server][]string) {
	t.Helper()
	waitFor(t, what, func() bool {
		for s, w := range want {
			if !slices.Equal(s.Peers(), w) {
				return false
			}
		}
		return true
	})
}

// holdPeers fails if any server's route peers differ from want at any
// moment during d.
func holdPeers(t *testing.T, d time.Duration, want map[*Server][]string) {
	t.Helper()
	for start := time.Now(); time.Since(start) < d; time.Sleep(20 * time.Millisecond) {
		for s, w := range want {
			if got := s.Peers(); !slices.Equal(got, w) {
				t.Fatalf("%s has route peers %v %v into the cut, want %v", s.Name(), got, time.Since(start).Round(time.Millisecond), w)
			}
		}
	}
}

// delivered reports whether messages published on from, one every 100ms
// for a second and a half, reach a subscriber on to (core NATS drops what
// a route closing at that moment carried, as when duplicate routes of a
// heal are resolved).
func delivered(t *testing.T, from, to *Server, subject string) bool {
	t.Helper()
	sub, err := to.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch := make(chan *nats.Msg, 16)
	if _, err := sub.ChanSubscribe(subject, ch); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	pub, err := from.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		pub.Publish(subject, []byte("x"))
		pub.Flush()
		select {
		case <-ch:
			return true
		case <-tick.C:
		}
	}
	return false
}

// errorLines are the error-level lines of logs, for a test that wants
// none.
func errorLines(logs ...*captureHandler) []string {
	var out []string
	for _, l := range logs {
		for _, r := range l.records() {
			if r.Level >= slog.LevelError {
				out = append(out, r.Message)
			}
		}
	}
	return out
}

// A cut A–B applied at both ends closes their routes and keeps them closed
// while C stays routed to both, and a message from A no longer reaches B;
// healed, the routes come straight back. Routes are TLS or not: the gate
// sits in the route authentication, after the handshake. Nothing of it is
// logged as an error.
func TestServer_BlockRoutes(t *testing.T) {
	for _, tt := range []struct {
		name string
		ca   *testPKI
	}{{"plain", nil}, {"TLS", newTestCA(t, "herd CA")}} {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := chaosMesh(t, tt.ca)
			a, b, c := s[0], s[1], s[2]
			wholeA, wholeB := wholePool(a.opts), wholePool(b.opts)
			if !delivered(t, a, b, "before.cut") {
				t.Fatal("A's message did not reach B before the cut")
			}
			cutAt := time.Now()
			if err := a.BlockRoutes(RouteBlock{Peers: []string{"B"}}); err != nil {
				t.Fatal(err)
			}
			if err := b.BlockRoutes(RouteBlock{Peers: []string{"A"}}); err != nil {
				t.Fatal(err)
			}
			cut := map[*Server][]string{a: {"C"}, b: {"C"}, c: {"A", "B"}}
			wantPeers(t, "A–B cut", cut)
			t.Logf("A–B routes closed %v after the cut", time.Since(cutAt).Round(time.Millisecond))
			holdPeers(t, 3*time.Second, cut)
			if delivered(t, a, b, "during.cut") {
				t.Error("A's message reached B during the cut")
			}
			if got := a.Blocked(); got.All || !slices.Equal(got.Peers, []string{"B"}) {
				t.Errorf("A.Blocked() = %+v", got)
			}

			healAt := time.Now()
			a.BlockRoutes(RouteBlock{})
			b.BlockRoutes(RouteBlock{})
			wantPeers(t, "A–B healed", map[*Server][]string{a: {"B", "C"}, b: {"A", "C"}, c: {"A", "B"}})
			t.Logf("A–B routes back %v after the heal", time.Since(healAt).Round(time.Millisecond))
			// Back means one route: the rest of the pool follows, a TLS dial
			// each, under load in up to 2s. A message of an account whose
			// place in the pool is not filled yet has no route (nor has B's
			// interest in it): wait for whole pools both ways, then it must
			// get through.
			waitFor(t, "A–B's route pools whole again", func() bool {
				return len(routesTo(t, a, "B")) >= wholeA && len(routesTo(t, b, "A")) >= wholeB
			})
			t.Logf("A–B route pools whole %v after the heal", time.Since(healAt).Round(time.Millisecond))
			if !delivered(t, a, b, "after.heal") {
				t.Errorf("A's message did not reach B after the heal; routes A→B %s, B→A %s", routeList(t, a, "B"), routeList(t, b, "A"))
			}
			if lines := errorLines(logs...); len(lines) > 0 {
				t.Errorf("error lines during cut and heal:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// A cut applied at one end only holds too: A marks its own dials of B cut
// and refuses B's, so B, which knows nothing of it, stays cut off.
func TestServer_BlockRoutes_oneEnd(t *testing.T) {
	s, _ := chaosMesh(t, nil)
	a, b, c := s[0], s[1], s[2]
	if err := a.BlockRoutes(RouteBlock{Peers: []string{"B"}}); err != nil {
		t.Fatal(err)
	}
	cut := map[*Server][]string{a: {"C"}, b: {"C"}, c: {"A", "B"}}
	wantPeers(t, "A–B cut at A", cut)
	holdPeers(t, 3*time.Second, cut)
	a.BlockRoutes(RouteBlock{})
	wantPeers(t, "A–B healed at A", map[*Server][]string{a: {"B", "C"}, b: {"A", "C"}, c: {"A", "B"}})
}

// A stopped server (All) loses every route and takes none, by itself; the
// others keep theirs. Restarted, it is routed to both again.
func TestServer_BlockRoutes_all(t *testing.T) {
	s, logs := chaosMesh(t, nil)
	a, b, c := s[0], s[1], s[2]
	if err := a.BlockRoutes(RouteBlock{All: true}); err != nil {
		t.Fatal(err)
	}
	stopped := map[*Server][]string{a: {}, b: {"C"}, c: {"B"}}
	wantPeers(t, "A stopped", stopped)
	holdPeers(t, 3*time.Second, stopped)
	a.BlockRoutes(RouteBlock{})
	wantPeers(t, "A back", map[*Server][]string{a: {"B", "C"}, b: {"A", "C"}, c: {"A", "B"}})
	if lines := errorLines(logs[1:]...); len(lines) > 0 {
		t.Errorf("error lines at B and C while A was stopped:\n%s", strings.Join(lines, "\n"))
	}
}

func TestServer_BlockRoutes_errors(t *testing.T) {
	plain := startServer(t, testConfig(t, "P"))
	if err := plain.BlockRoutes(RouteBlock{All: true}); !errors.Is(err, ErrNoChaos) {
		t.Errorf("BlockRoutes without Chaos: %v", err)
	}
	if _, err := plain.ConnectSystem(); !errors.Is(err, ErrNoChaos) {
		t.Errorf("ConnectSystem without Chaos: %v", err)
	}
	c := testConfig(t, "Q")
	c.Chaos = true
	c.Peers = []Peer{{Name: "R", Route: "127.0.0.1:0"}}
	q := startServer(t, c)
	if err := q.BlockRoutes(RouteBlock{Peers: []string{"Nobody"}}); !errors.Is(err, ErrUnknownPeer) || !strings.Contains(err.Error(), "Nobody") {
		t.Errorf("BlockRoutes of an unknown peer: %v", err)
	}
	if got := q.Blocked(); got.All || len(got.Peers) != 0 {
		t.Errorf("a refused BlockRoutes changed the gate: %+v", got)
	}
}

func TestSplitRouteUser(t *testing.T) {
	for _, tt := range []struct {
		in         string
		name, user string
		mark       routeMark
	}{
		{"Goloman@herd", "Goloman", "herd", routeMark{}},
		{"Goloman@", "Goloman", "", routeMark{}},
		{"Goloman.cut@herd", "Goloman", "herd", routeMark{cut: true}},
		{"Goloman.cut.3@herd", "Goloman", "herd", routeMark{cut: true, gen: 3}},
		{"Goloman.4@herd", "Goloman", "herd", routeMark{gen: 4}},
		{"Goloman.0@herd", "", "Goloman.0@herd", routeMark{}},
		{"Goloman.4.cut@herd", "", "Goloman.4.cut@herd", routeMark{}},
		{"Goloman.cut.x@herd", "", "Goloman.cut.x@herd", routeMark{}},
		{"Golo.man@herd", "", "Golo.man@herd", routeMark{}},
		{".cut@herd", "", ".cut@herd", routeMark{}},
		{"herd", "", "herd", routeMark{}},
		{"a@b@c", "a", "b@c", routeMark{}},
	} {
		name, user, mark := splitRouteUser(tt.in)
		if name != tt.name || user != tt.user || mark != tt.mark {
			t.Errorf("splitRouteUser(%q) = %q, %q, %+v; want %q, %q, %+v", tt.in, name, user, mark, tt.name, tt.user, tt.mark)
		}
		if tt.name != "" {
			if back := tt.mark.user(tt.name, tt.user); back != tt.in {
				t.Errorf("%+v.user(%q, %q) = %q, want %q", tt.mark, tt.name, tt.user, back, tt.in)
			}
		}
	}
}

// A cut closes the routes the cut peer dialled here by expiring them
// (closeRoutes), after the reload that moves this server's own routes: the
// reload does not refuse them itself (nats-server would report that
// refusal from the reload's goroutine, racing the route's read loop).
// Here only A's dials connect: B dials A at an address nobody listens on,
// so that the cut, marking that dial, reloads B's routes.
//
// nats-server expires a route in two steps (client.go authExpired): it
// queues "-ERR 'User Authentication Expired'", which its write loop may
// send at once, and then closes the connection. On a starved machine A can
// read that error and close its end in between; B's read loop then meets
// A's EOF first and the close counts as client_closed. So B's closes may
// be client_closed too, each one explained by A having read the expiry.
func TestServer_BlockRoutes_peerDialledRoutes(t *testing.T) {
	aLogs := newCapture(slog.LevelInfo)
	cfg := func(name string, peer Peer) Config {
		logs := newCapture(slog.LevelInfo)
		if name == "A" {
			logs = aLogs
		}
		c := loggedAuthConfig(t, name, "right-horse-battery", logs)
		c.PeersOnly, c.Chaos = true, true
		c.Peers = []Peer{peer}
		return c
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := ln.Addr().String()
	ln.Close()
	b := startServer(t, cfg("B", Peer{Name: "A", Route: nowhere}))
	a := startServer(t, cfg("A", Peer{Name: "B", Route: b.ClusterAddr()}))
	b.reloadMu.Lock()
	whole := b.opts.Cluster.PoolSize + len(b.opts.Cluster.PinnedAccounts)
	b.reloadMu.Unlock()
	waitFor(t, "all of A's routes at B", func() bool {
		return len(routesTo(t, b, "A")) == whole && slices.Contains(b.Peers(), "A")
	})
	for _, r := range routesTo(t, b, "A") {
		if r.DidSolicit {
			t.Fatalf("B dialled route %d to A, want only routes A dialled", r.Rid)
		}
	}
	expired, closedByA := ReasonLabel(server.AuthenticationExpired), ReasonLabel(server.ClientClosed)
	before := b.RouteCloses()
	readExpiry := func() int { return aLogs.count("Route Error", "User Authentication Expired") }
	aReadBefore := readExpiry()
	if err := b.BlockRoutes(RouteBlock{Peers: []string{"A"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's routes at B closed by the cut", func() bool { return len(routesTo(t, b, "A")) == 0 })
	// Counted as the route closes (before their line is logged).
	waitFor(t, "the cut's closes counted", func() bool {
		return total(b.RouteCloses())-total(before) >= uint64(whole)
	})
	after := b.RouteCloses()
	closes := map[string]uint64{}
	for reason, n := range after {
		if d := n - before[reason]; d > 0 {
			closes[reason] = d
		}
	}
	aRead := readExpiry() - aReadBefore
	t.Logf("B's closes of A's routes by the cut: %v; A read the expiry on %d of them", closes, aRead)
	// The wait above counted whole closes, so these are all of them.
	for reason := range closes {
		if reason != expired && reason != closedByA {
			t.Errorf("B closed the routes A dialled: %v; want only %s (or %s when A read the expiry first), not %s (a refusal by the reload, or another cause)",
				closes, expired, closedByA, reason)
		}
	}
	if n := closes[closedByA]; n > uint64(aRead) {
		t.Errorf("%d of A's routes closed at B as %s, but A read B's expiry on only %d: A closed routes the cut did not expire", n, closedByA, aRead)
	}
	if err := b.BlockRoutes(RouteBlock{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A back at B", func() bool {
		return len(routesTo(t, b, "A")) == whole && slices.Contains(b.Peers(), "A") && slices.Contains(a.Peers(), "B")
	})
}

// routeList describes s's routes to the server named peer, for a failure.
func routeList(t *testing.T, s *Server, peer string) string {
	t.Helper()
	var out []string
	for _, r := range routesTo(t, s, peer) {
		out = append(out, fmt.Sprintf("rid %d account %q solicited=%v", r.Rid, r.Account, r.DidSolicit))
	}
	return "[" + strings.Join(out, "; ") + "]"
}
