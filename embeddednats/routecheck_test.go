package embeddednats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// fakeRoute is the accepting side's view of a dialling route.
type fakeRoute struct {
	user, pass string
	addr       string
	leaf       *x509.Certificate
}

var _ server.ClientAuthentication = fakeRoute{}

func (f fakeRoute) GetOpts() *server.ClientOpts {
	return &server.ClientOpts{Username: f.user, Password: f.pass}
}
func (f fakeRoute) GetTLSConnectionState() *tls.ConnectionState {
	if f.leaf == nil {
		return nil
	}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.leaf}}
}
func (f fakeRoute) RegisterUser(*server.User) {}
func (f fakeRoute) RemoteAddress() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", f.addr)
	return a
}
func (f fakeRoute) GetNonce() []byte { return nil }
func (f fakeRoute) Kind() int        { return server.ROUTER }
func (f fakeRoute) GetID() uint64    { return 1 }

// leafOf parses what testPKI.issue returns.
func leafOf(t *testing.T) func(certPEM, keyPEM []byte) *x509.Certificate {
	return func(certPEM, keyPEM []byte) *x509.Certificate {
		t.Helper()
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
}

// The accepting side refuses, naming the node and the setting, every route
// that does not come from a peer with the route password and a certificate
// for the peer's host; it lets the rest in.
func TestRouteCheck_judge(t *testing.T) {
	ca := newTestCA(t, "herd CA")
	cfg := testConfig(t, "Goloman")
	cfg.RouteUser, cfg.RoutePassword, cfg.RoutePasswordHint = "herd", "pw-right", "HERD_ROUTE_PASSWORD"
	cfg.PeersOnly = true
	cfg.RouteTLS = routeTLS(t, ca, ca, "Goloman")
	rc := newRouteCheck(cfg, slog.New(slog.DiscardHandler), nil, newPeerSet([]Peer{
		{Name: "Welsh", Route: "127.0.0.1:16224"}, {Name: "Wilkes", Route: "127.0.0.9:0"},
	}))
	welshLeaf := leafOf(t)(ca.issue(t, "Welsh")) // names 127.0.0.1
	for _, tt := range []struct {
		name      string
		route     fakeRoute
		wantCause string // "" accepts
		wantMsg   []string
	}{
		{"peer with password and certificate", fakeRoute{"Welsh@herd", "pw-right", "127.0.0.1:5000", welshLeaf}, "", nil},
		{"wrong password", fakeRoute{"Welsh@herd", "pw-wrong", "127.0.0.1:5000", welshLeaf}, "password",
			[]string{"route password mismatch with Welsh", "check HERD_ROUTE_PASSWORD"}},
		{"no password", fakeRoute{"Welsh@herd", "", "127.0.0.1:5000", welshLeaf}, "password", []string{"Welsh", "has no password", "HERD_ROUTE_PASSWORD"}},
		{"wrong user", fakeRoute{"Welsh@other", "pw-right", "127.0.0.1:5000", welshLeaf}, "user", []string{"route user mismatch with Welsh", `"other"`}},
		{"no node name", fakeRoute{"herd", "pw-right", "127.0.0.1:5000", welshLeaf}, "no-name", []string{"127.0.0.1", "does not say which node"}},
		{"own name", fakeRoute{"Goloman@herd", "pw-right", "127.0.0.1:5000", welshLeaf}, "self", []string{"own name"}},
		{"not a peer", fakeRoute{"Sixth@herd", "pw-right", "127.0.0.1:5000", welshLeaf}, "stranger", []string{"Sixth is not a peer", "herd file"}},
		{"certificate for another host", fakeRoute{"Wilkes@herd", "pw-right", "127.0.0.1:5000", welshLeaf}, "certificate",
			[]string{"certificate for 127.0.0.1 presented by a node connecting as Wilkes", "must name 127.0.0.9"}},
		{"no certificate", fakeRoute{"Welsh@herd", "pw-right", "127.0.0.1:5000", nil}, "certificate", []string{"no TLS certificate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ps, _ := rc.current()
			_, why := rc.judge(tt.route, ps)
			switch {
			case tt.wantCause == "" && why != nil:
				t.Fatalf("refused: %s", why.msg)
			case tt.wantCause == "":
				return
			case why == nil:
				t.Fatalf("accepted, want refused (%s)", tt.wantCause)
			case why.cause != tt.wantCause:
				t.Errorf("cause %q, want %q (%s)", why.cause, tt.wantCause, why.msg)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(why.msg, w) {
					t.Errorf("message %q lacks %q", why.msg, w)
				}
			}
			if strings.Contains(why.msg, "pw-") {
				t.Errorf("message shows a password: %s", why.msg)
			}
		})
	}

	// Open routes (no password, not restricted to peers) let anyone in,
	// as plain nats-server does.
	open := newRouteCheck(testConfig(t, "Goloman"), slog.New(slog.DiscardHandler), nil, newPeerSet(nil))
	ps, _ := open.current()
	if _, why := open.judge(fakeRoute{addr: "127.0.0.1:1"}, ps); why != nil {
		t.Errorf("open routes refused a server: %s", why.msg)
	}
}

// A refusal is answered at once the first time, then after 1s, 2s, 4s …
// up to 30s; the log has the first three, then one line per 30s counting
// the rest; an acceptance or a quiet minute starts afresh.
func TestRefusals_holdAndLog(t *testing.T) {
	now := time.Unix(1000, 0)
	logs := newCapture(slog.LevelInfo)
	r := newRefusals(func() time.Time { return now }, slog.New(logs))
	why := &refusal{"password", "route password mismatch with Welsh: check HERD_ROUTE_PASSWORD"}
	var holds []time.Duration
	for range 10 {
		h := r.refused("Welsh", why)
		holds = append(holds, h)
		now = now.Add(h + time.Second) // the dialler redials a second later
	}
	want := []time.Duration{0, 1, 2, 4, 8, 16, 30, 30, 30, 30}
	for i, h := range holds {
		if h != want[i]*time.Second {
			t.Errorf("hold %d = %v, want %v (all %v)", i, h, want[i]*time.Second, holds)
		}
	}
	// 10 refusals over about two minutes: three lines, then one per 30s.
	lines := logs.count("route password mismatch with Welsh")
	if lines < refusalLogBurst+2 || lines > refusalLogBurst+5 {
		t.Errorf("%d lines for 10 refusals over %v, want the first %d and about one per 30s", lines, now.Sub(time.Unix(1000, 0)), refusalLogBurst)
	}
	var counted bool
	for _, rec := range logs.records() {
		rec.Attrs(func(a slog.Attr) bool {
			counted = counted || a.Key == "not_logged_since_last_line" && a.Value.Int64() > 0
			return true
		})
	}
	if !counted {
		t.Error("no line counts the refusals left out")
	}

	// Another cause of the same node is news: logged at once.
	before := logs.count("certificate for")
	r.refused("Welsh", &refusal{"certificate", "certificate for x presented by a node connecting as Welsh"})
	if logs.count("certificate for") != before+1 {
		t.Error("a new cause was not logged")
	}

	r.accepted("Welsh")
	if logs.count("route accepted after refusals") != 1 {
		t.Error("acceptance after refusals not logged")
	}
	if h := r.refused("Welsh", why); h != 0 {
		t.Errorf("first refusal after an acceptance held %v, want 0", h)
	}
	r.refused("Welsh", why)
	now = now.Add(refusalForget + time.Second)
	if h := r.refused("Welsh", why); h != 0 {
		t.Errorf("refusal after %v of quiet held %v, want 0", refusalForget, h)
	}
}

func TestCheckRouteCert(t *testing.T) {
	ca := newTestCA(t, "herd CA")
	c := routeTLS(t, ca, ca, "A") // names 127.0.0.1
	if err := CheckRouteCert(c, "127.0.0.1"); err != nil {
		t.Errorf("own host: %v", err)
	}
	err := CheckRouteCert(c, "welsh.herd")
	if err == nil || !strings.Contains(err.Error(), "for 127.0.0.1, not welsh.herd") {
		t.Errorf("other host: %v", err)
	}
	if err := CheckRouteCert(&tls.Config{}, "x"); err == nil {
		t.Error("no certificate: nil error")
	}
}

// nats-server's own lines about a route this server refused (which said
// why itself) go to debug level, and only for those routes; the dialler's
// "Authorization Violation" says where to look.
func TestSlogLogger_refusedRoutes(t *testing.T) {
	logs := newCapture(slog.LevelInfo)
	l := newSlogLogger(slog.New(logs), nil)
	l.refusedRoute = func(rid uint64) bool { return rid == 7 }
	l.Warnf("127.0.0.1:5000 - rid:7 - "+readLoopSlow, 2*time.Second)
	l.Errorf(`127.0.0.1:5000 - rid:7 - %v - %s`, errors.New("authentication error"), `User "Welsh@herd"`)
	l.Warnf("127.0.0.1:5000 - rid:8 - "+readLoopSlow, 2*time.Second)
	l.Errorf(`127.0.0.1:5000 - rid:8 - %v - %s`, errors.New("authentication error"), `User "Welsh@herd"`)
	l.Warnf("127.0.0.1:5000 - cid:7 - "+readLoopSlow, 2*time.Second)
	if n := logs.count("rid:7"); n != 0 {
		t.Errorf("refused route's lines logged %d times at info or above", n)
	}
	if logs.count("rid:8") != 2 || logs.count("cid:7") != 1 {
		t.Errorf("other routes' lines not logged: %d %d", logs.count("rid:8"), logs.count("cid:7"))
	}
	l.Errorf("10.0.0.1:16222 - rid:9 - "+routeError, authViolation)
	if logs.count("Authorization Violation", "the peer's log says why") != 1 {
		t.Error("the dialler's refusal line does not say where to look")
	}
}

// The dialler's "Authorization Violation" is an error where nothing but a
// misconfiguration refuses routes; with chaos on, a peer may cut this node
// before this node hears of the cut (or alone), so it is a warning, and
// info while this node cuts too.
func TestSlogLogger_peerRefusalLevel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cutting func() bool
		want    slog.Level
	}{
		{"chaos off", nil, slog.LevelError},
		{"chaos on, no cut here", func() bool { return false }, slog.LevelWarn},
		{"chaos on, cutting here", func() bool { return true }, slog.LevelInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := newCapture(slog.LevelInfo)
			l := newSlogLogger(slog.New(logs), nil)
			l.cutting = tc.cutting
			l.Errorf("10.0.0.1:16222 - rid:9 - "+routeError, authViolation)
			recs := logs.records()
			if len(recs) != 1 {
				t.Fatalf("%d lines logged, want 1", len(recs))
			}
			if recs[0].Level != tc.want || !strings.Contains(recs[0].Message, "the peer refused this node's route") {
				t.Errorf("logged at %v: %q, want %v", recs[0].Level, recs[0].Message, tc.want)
			}
		})
	}
}
