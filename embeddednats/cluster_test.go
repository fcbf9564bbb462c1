package embeddednats

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startChain starts A, then B seeded with A, then C seeded with B: the only
// start order that works on port 0. A and C learn each other by gossip.
func startChain(t *testing.T, mutate func(*Config)) (a, b, c *Server) {
	t.Helper()
	cfg := func(name string, routes ...string) Config {
		c := testConfig(t, name)
		c.Routes = routes
		if mutate != nil {
			mutate(&c)
		}
		return c
	}
	a = startServer(t, cfg("A"))
	b = startServer(t, cfg("B", a.ClusterAddr()))
	c = startServer(t, cfg("C", "nats-route://"+b.ClusterAddr()))
	waitMesh(t, a, b, c)
	return a, b, c
}

// waitMesh waits until every server sees all the others.
func waitMesh(t *testing.T, servers ...*Server) {
	t.Helper()
	for _, s := range servers {
		if err := s.WaitClusterFormed(testContext(t), len(servers)-1); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
	}
}

// routesTo returns the Routez entries of s for the remote server name.
func routesTo(t *testing.T, s *Server, name string) []*server.RouteInfo {
	t.Helper()
	rz, err := s.NATS().Routez(&server.RoutezOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*server.RouteInfo
	for _, r := range rz.Routes {
		if r.RemoteName == name {
			out = append(out, r)
		}
	}
	return out
}

func TestServer_WaitClusterFormed(t *testing.T) {
	a, b, c := startChain(t, nil)
	for s, want := range map[*Server][]string{a: {"B", "C"}, b: {"A", "C"}, c: {"A", "B"}} {
		if got := s.Peers(); !slices.Equal(got, want) {
			t.Errorf("%s.Peers() = %v, want %v", s.Name(), got, want)
		}
		if n := s.NumPeers(); n != 2 {
			t.Errorf("%s.NumPeers() = %d, want 2", s.Name(), n)
		}
	}
	// A–C was completed by NATS on B's gossip, not configured at either
	// end. Which end dialled is nats-server's race: mostly A (told of C by
	// B), under load sometimes C (told of A), whose dial then wins.
	for _, e := range []struct {
		from *Server
		to   string
	}{{a, "C"}, {c, "A"}} {
		rs := routesTo(t, e.from, e.to)
		if len(rs) == 0 {
			t.Errorf("%s has no route to %s", e.from.Name(), e.to)
		}
		for _, r := range rs {
			if r.IsConfigured {
				t.Errorf("%s's route %d to %s is configured (solicited=%v), want an implicit route", e.from.Name(), r.Rid, e.to, r.DidSolicit)
			}
		}
	}
}

func TestServer_WaitClusterFormed_contextEnds(t *testing.T) {
	s := startServer(t, testConfig(t, "A"))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitClusterFormed(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitClusterFormed = %v, want DeadlineExceeded", err)
	}
}

func TestServer_WaitInterest(t *testing.T) {
	a, _, c := startChain(t, nil)
	const subject = "herd.at.C"
	if a.HasInterest(subject) {
		t.Fatal("interest on A before anyone subscribed")
	}
	cc, err := c.Connect()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitInterest(testContext(t), subject); err != nil {
		t.Fatal(err)
	}
	if a.HasInterest("herd.at.B") {
		t.Error("interest on A for a subject nobody subscribed")
	}
	ac, err := a.Connect()
	if err != nil {
		t.Fatal(err)
	}
	if err := ac.Publish(subject, []byte("hello C")); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(waitTimeout); err != nil || string(msg.Data) != "hello C" {
		t.Fatalf("C got %v, %v", msg, err)
	}
}

// Core NATS is at-most-once: while the route is cut a publish towards the
// other side succeeds locally and the message is gone for good, even though
// the subscriber stays up and the route heals.
func TestServer_routeCutDropsPublish(t *testing.T) {
	a := startServer(t, testConfig(t, "A"))
	proxy := startProxy(t, a.ClusterAddr())
	cfgB := testConfig(t, "B")
	cfgB.Routes = []string{proxy.addr}
	b := startServer(t, cfgB)
	waitMesh(t, a, b)

	bc, err := b.Connect()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bc.SubscribeSync("herd.at.B")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitInterest(testContext(t), "herd.at.B"); err != nil {
		t.Fatal(err)
	}
	ac, err := a.Connect()
	if err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	waitMesh(t, a) // A sees no peer
	if a.HasInterest("herd.at.B") {
		t.Error("A still has B's interest after the route was cut")
	}
	if err := ac.Publish("herd.at.B", []byte("lost")); err != nil {
		t.Fatalf("publish during cut = %v, want nil (silent drop)", err)
	}
	if err := ac.Flush(); err != nil {
		t.Fatalf("flush during cut = %v, want nil", err)
	}

	proxy.restore(t) // B's explicit route redials through the proxy
	waitMesh(t, a, b)
	if err := a.WaitInterest(testContext(t), "herd.at.B"); err != nil {
		t.Fatal(err)
	}
	if err := ac.Publish("herd.at.B", []byte("after")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "after" {
		t.Errorf("B's first message after the cut = %q, want \"after\" (\"lost\" is never delivered)", msg.Data)
	}
}

// A restarted server that seeds nobody rejoins because its neighbor keeps
// redialling the explicit route to the same address; gossip then restores
// the implicit routes.
func TestServer_restartRejoins(t *testing.T) {
	a, b, c := startChain(t, nil)
	addr := a.ClusterAddr()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitMesh(t, b, c)

	cfg := testConfig(t, "A")
	cfg.ClusterAddr = addr
	start := time.Now()
	a2 := startServer(t, cfg)
	waitMesh(t, a2, b, c)
	t.Logf("mesh re-formed %v after the restarted server started", time.Since(start))
	if got := a2.Peers(); !slices.Equal(got, []string{"B", "C"}) {
		t.Errorf("restarted A peers = %v", got)
	}
	for _, r := range routesTo(t, a2, "B") {
		if r.DidSolicit {
			t.Error("restarted A dialled B; want B's explicit route to redial A")
		}
	}
}

// A route learned by gossip is redialled only Cluster.ConnectRetries times
// (0: a single attempt 0–100ms after the cut). A and C advertise proxies, so
// every A–C connection, whoever dialled it, runs through one, while B's
// explicit routes to both are direct. The cut outlasts the first redial:
// with DefaultConnectRetries the mesh heals once the proxies are back; with
// 0 it stays incomplete and A no longer reaches C although both are up.
//
// The "never heals" row disables route pooling: pooled connections are
// opened one after another and each redials on its own, so with a pool the
// number of pending redials at the cut is racy (a late one can heal the
// mesh by luck). The rule per connection is the same either way.
func TestServer_connectRetriesHealsGossipRoute(t *testing.T) {
	noPool := func(o *server.Options) { o.Cluster.PoolSize = -1 }
	for _, tt := range []struct {
		name     string
		retries  int
		options  func(*server.Options)
		wantHeal bool
	}{
		{"default retries", DefaultConnectRetries, nil, true},
		{"default retries no pool", DefaultConnectRetries, noPool, true},
		{"nats default 0 no pool", 0, noPool, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(slog.LevelInfo) // a refused redial is info (peerclose.go)
			cfg := func(name string, advertise *tcpProxy, routes ...string) Config {
				c := testConfig(t, name)
				c.Logger = slog.New(teeHandler{logs, c.Logger.Handler()})
				c.ConnectRetries = tt.retries
				c.Options = tt.options
				c.Routes = routes
				if advertise != nil {
					c.ClusterAdvertise = advertise.addr
				}
				return c
			}
			// A listener is known only after Start: each proxy holds the
			// dials it gets (prompted by B's gossip) until it has a target.
			proxyA, proxyC := startProxy(t, ""), startProxy(t, "")
			a := startServer(t, cfg("A", proxyA))
			proxyA.setTarget(a.ClusterAddr())
			b := startServer(t, cfg("B", nil, a.ClusterAddr()))
			c := startServer(t, cfg("C", proxyC, b.ClusterAddr()))
			proxyC.setTarget(c.ClusterAddr())
			waitMesh(t, a, b, c)
			for _, r := range routesTo(t, a, "C") {
				if r.IsConfigured {
					t.Fatal("A's route to C is configured, want learned by gossip")
				}
			}

			cut := time.Now()
			proxyA.cut()
			proxyC.cut()
			waitFor(t, "A and C to drop their route", func() bool {
				return a.NumPeers() == 1 && c.NumPeers() == 1
			})
			waitFor(t, "a redial through a proxy to fail", func() bool {
				return logs.count("(attempt 1)", proxyA.addr)+logs.count("(attempt 1)", proxyC.addr) > 0
			})
			// Outlast every connection's first redial (0–100ms after the cut).
			time.Sleep(time.Until(cut.Add(500 * time.Millisecond)))
			proxyA.restore(t)
			proxyC.restore(t)
			restored := time.Now()

			if tt.wantHeal {
				waitMesh(t, a, b, c)
				t.Logf("A–C healed %v after the proxies came back, %v after the cut",
					time.Since(restored).Round(time.Millisecond), time.Since(cut).Round(time.Millisecond))
				return
			}
			// Nothing is left to redial: three retry intervals without a heal.
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				if a.NumPeers() != 1 || c.NumPeers() != 1 {
					t.Fatalf("mesh healed with ConnectRetries=0: A %v, C %v", a.Peers(), c.Peers())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := a.Peers(); !slices.Equal(got, []string{"B"}) {
				t.Errorf("A peers = %v, want only B", got)
			}
		})
	}
}
