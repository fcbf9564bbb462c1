package embeddednats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// withRouteAuth sets the herd's route credentials.
func withRouteAuth(pw Secret) func(*Config) {
	return func(c *Config) {
		c.RouteUser, c.RoutePassword, c.RoutePasswordHint = "herd", pw, "HERD_ROUTE_PASSWORD"
	}
}

// loggedAuthConfig is name's test config with the route password pw,
// logging to logs as well.
func loggedAuthConfig(t *testing.T, name string, pw Secret, logs *captureHandler) Config {
	t.Helper()
	c := testConfig(t, name)
	withRouteAuth(pw)(&c)
	c.Logger = slog.New(teeHandler{logs, c.Logger.Handler()})
	return c
}

// One server with the wrong route password, dialled by its neighbor A and,
// through A's gossip, by B and C: every dial of it is refused, and the
// refusals back off instead of the hundreds of TLS connections a second
// per node this once caused. Each dial of W passes through a proxy that
// counts them.
func TestServer_refusedRouteBacksOff(t *testing.T) {
	window := 6 * time.Second
	wLogs := newCapture(slog.LevelInfo)
	proxyW := startProxy(t, "")
	wc := loggedAuthConfig(t, "W", "wrong-staple", wLogs)
	wc.ClusterAdvertise = proxyW.addr
	w := startServer(t, wc)
	proxyW.setTarget(w.ClusterAddr())

	ac := loggedAuthConfig(t, "A", "right-horse-battery", newCapture(slog.LevelInfo))
	ac.Routes = []string{proxyW.addr}
	a := startServer(t, ac)
	bc := testConfig(t, "B")
	withRouteAuth("right-horse-battery")(&bc)
	bc.Routes = []string{a.ClusterAddr()}
	b := startServer(t, bc)
	cc := testConfig(t, "C")
	withRouteAuth("right-horse-battery")(&cc)
	cc.Routes = []string{b.ClusterAddr()}
	c := startServer(t, cc)
	waitMesh(t, a, b, c)
	// W has refused A, and B or C (which know W only by gossip).
	waitFor(t, "W to refuse A and a gossip-learned dialler", func() bool {
		return wLogs.count("route password mismatch with A") > 0 &&
			wLogs.count("route password mismatch with B")+wLogs.count("route password mismatch with C") > 0
	})

	start, dials := time.Now(), proxyW.accepts.Load()
	for time.Since(start) < window {
		if n := w.NumPeers(); n != 0 {
			t.Fatalf("W joined %v with the wrong password", w.Peers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dials = proxyW.accepts.Load() - dials
	rate := float64(dials) / time.Since(start).Seconds()
	t.Logf("dials of W over %v: %d (%.2f/s from 3 servers)", window, dials, rate)
	if max := 3 * (window.Seconds() + 1); float64(dials) > max {
		t.Errorf("%d dials of W in %v, want at most one per second per server (%.0f)", dials, window, max)
	}
	for _, s := range []*Server{a, b, c} {
		if got := s.NumPeers(); got != 2 {
			t.Errorf("%s has %d peers, want the other two", s.Name(), got)
		}
	}
	// W says what is wrong and which setting to check, a few times each.
	for _, peer := range []string{"A", "B", "C"} {
		n := wLogs.count("route password mismatch with "+peer, "check HERD_ROUTE_PASSWORD")
		if n > refusalLogBurst+1 {
			t.Errorf("W logged the mismatch with %s %d times in %v, want at most %d", peer, n, window, refusalLogBurst+1)
		}
	}
	for _, r := range wLogs.records() {
		if strings.Contains(r.Message, "mismatch") {
			t.Logf("W: %s", r.Message)
			break
		}
	}
}

// A peer taken out of the herd (SetPeers without it) is disconnected and
// never dialled again, though it keeps running and dialling; put back, it
// is let in at once.
func TestServer_SetPeers_removedPeerIsForgotten(t *testing.T) {
	pw := withRouteAuth("right-horse-battery")
	cfg := func(name string, routes ...string) Config {
		c := testConfig(t, name)
		pw(&c)
		c.PeersOnly = true
		c.Routes = routes
		return c
	}
	ac := cfg("A")
	ac.Peers = []Peer{{Name: "B", Route: "127.0.0.1:0"}, {Name: "S", Route: "127.0.0.1:0"}}
	a := startServer(t, ac)
	bc := cfg("B", a.ClusterAddr())
	bc.Peers = []Peer{{Name: "A", Route: a.ClusterAddr()}, {Name: "S", Route: "127.0.0.1:0"}}
	b := startServer(t, bc)
	proxyS := startProxy(t, "")
	sc := cfg("S", a.ClusterAddr(), b.ClusterAddr())
	sc.ClusterAdvertise = proxyS.addr
	sc.Peers = []Peer{{Name: "A", Route: a.ClusterAddr()}, {Name: "B", Route: b.ClusterAddr()}}
	s := startServer(t, sc)
	proxyS.setTarget(s.ClusterAddr())
	// Every peer's address is known now: all routes are configured ones.
	all := map[string]Peer{"A": {"A", a.ClusterAddr()}, "B": {"B", b.ClusterAddr()}, "S": {"S", proxyS.addr}}
	peers := func(names ...string) []Peer {
		var ps []Peer
		for _, n := range names {
			ps = append(ps, all[n])
		}
		return ps
	}
	for _, tt := range []struct {
		s     *Server
		peers []string
	}{{a, []string{"B", "S"}}, {b, []string{"A", "S"}}} {
		if _, _, err := tt.s.SetPeers(peers(tt.peers...)); err != nil {
			t.Fatal(err)
		}
	}
	waitMesh(t, a, b, s)
	if got := a.MissingPeers(); len(got) != 0 {
		t.Errorf("A misses %v in a whole mesh", got)
	}
	// At once, while the route pools may still be filling and duplicate
	// routes being redialled: SetPeers waits for the routes to S to settle
	// (without that wait, S stayed connected in 15 of 20 runs).
	removedAt := time.Now()
	for _, tt := range []struct {
		s    *Server
		peer string
	}{{a, "B"}, {b, "A"}} {
		added, removed, err := tt.s.SetPeers(peers(tt.peer))
		if err != nil || len(added) != 0 || !slices.Equal(removed, []string{"S"}) {
			t.Fatalf("%s.SetPeers: added %v removed %v, %v", tt.s.Name(), added, removed, err)
		}
	}
	waitFor(t, "A and B to drop S, and S to see it", func() bool {
		return slices.Equal(a.Peers(), []string{"B"}) && slices.Equal(b.Peers(), []string{"A"}) && s.NumPeers() == 0
	})
	t.Logf("S disconnected %v after the SetPeers", time.Since(removedAt).Round(time.Millisecond))
	const quiet = 3 * time.Second
	dials := proxyS.accepts.Load()
	for start := time.Now(); time.Since(start) < quiet; time.Sleep(20 * time.Millisecond) {
		if n := s.NumPeers(); n != 0 {
			t.Fatalf("removed S is connected to %v", s.Peers())
		}
	}
	if n := proxyS.accepts.Load() - dials; n != 0 {
		t.Errorf("S was dialled %d times in %v after its removal, want never", n, quiet)
	}
	if got := a.MissingPeers(); len(got) != 0 {
		t.Errorf("A misses %v after S left the herd", got)
	}

	readded := time.Now()
	a.SetPeers(peers("B", "S"))
	b.SetPeers(peers("A", "S"))
	waitMesh(t, a, b, s)
	t.Logf("S back in the mesh %v after the SetPeers", time.Since(readded).Round(time.Millisecond))
}

// waitRoutesSettled waits until no route connection of the servers opens
// or closes for a second: pooled connections open one after another.
func waitRoutesSettled(t *testing.T, servers ...*Server) {
	t.Helper()
	snapshot := func() string {
		var rids []string
		for _, s := range servers {
			rz, err := s.NATS().Routez(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rz.Routes {
				rids = append(rids, fmt.Sprintf("%s:%d", s.Name(), r.Rid))
			}
		}
		slices.Sort(rids)
		return strings.Join(rids, " ")
	}
	last, since := snapshot(), time.Now()
	waitFor(t, "route connections to settle", func() bool {
		if cur := snapshot(); cur != last {
			last, since = cur, time.Now()
		}
		return time.Since(since) > time.Second
	})
}

// issueFor returns a certificate and key from ca naming ip.
func (ca *testPKI) issueFor(t *testing.T, name, ip string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// Three peers on three loopback addresses, each with a certificate for its
// own: C started with B's certificate is refused by both, and both say
// whose certificate it presented; C says at start that its certificate is
// not its own. With its own certificate, C joins.
func TestServer_routeCertificateMustNameThePeer(t *testing.T) {
	ca := newTestCA(t, "herd CA")
	tlsFor := func(name, ip string) *tls.Config {
		cert, key := ca.issueFor(t, name, ip)
		c, err := RouteTLSConfig(cert, key, ca.pem, true)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	bCert := tlsFor("B", "127.0.0.2")
	cfg := func(name, ip string, logs *captureHandler, routes ...string) Config {
		c := testConfig(t, name)
		withRouteAuth("right-horse-battery")(&c)
		c.PeersOnly = true
		c.ClusterAddr = ip + ":0"
		c.Routes = routes
		c.RouteTLS = tlsFor(name, ip)
		c.Logger = slog.New(teeHandler{logs, c.Logger.Handler()})
		return c
	}
	aLogs, bLogs := newCapture(slog.LevelInfo), newCapture(slog.LevelInfo)
	ac := cfg("A", "127.0.0.1", aLogs)
	ac.Peers = []Peer{{"B", "127.0.0.2:0"}, {"C", "127.0.0.3:0"}}
	a := startServer(t, ac)
	bc := cfg("B", "127.0.0.2", bLogs, a.ClusterAddr())
	bc.Peers = []Peer{{"A", a.ClusterAddr()}, {"C", "127.0.0.3:0"}}
	b := startServer(t, bc)
	waitMesh(t, a, b)

	cLogs := newCapture(slog.LevelInfo)
	cc := cfg("C", "127.0.0.3", cLogs, a.ClusterAddr(), b.ClusterAddr())
	cc.Peers = []Peer{{"A", a.ClusterAddr()}, {"B", b.ClusterAddr()}}
	cc.RouteTLS = bCert
	c := startServer(t, cc)
	if cLogs.count("does not name its route host") != 1 {
		t.Errorf("C did not say at start that its certificate is not its own")
	}
	const want = "certificate for 127.0.0.2 presented by a node connecting as C"
	waitFor(t, "A and B to refuse C's certificate", func() bool {
		return aLogs.count(want, "must name 127.0.0.3") > 0 && bLogs.count(want, "must name 127.0.0.3") > 0
	})
	for start := time.Now(); time.Since(start) < 2*time.Second; time.Sleep(20 * time.Millisecond) {
		if c.NumPeers() != 0 || a.NumPeers() != 1 || b.NumPeers() != 1 {
			t.Fatalf("C half-joined: C %v, A %v, B %v", c.Peers(), a.Peers(), b.Peers())
		}
	}
	c.Close()

	cc.RouteTLS = tlsFor("C", "127.0.0.3")
	cc.Logger = testLogger(t)
	c = startServer(t, cc)
	waitMesh(t, a, b, c)
}
