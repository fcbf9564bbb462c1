package embeddednats

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// holdProxy forwards route connections to a target, and can hold new ones
// part way (holdNew): the dialler's first bytes (its CONNECT) pass, then
// nothing more in either direction until the test releases each way. So
// a test can keep one route dial in flight, not yet registered at either
// end, across a reload, and let it register at each end when it chooses.
type holdProxy struct {
	addr, target string
	ln           net.Listener

	mu    sync.Mutex // guards hold and links
	hold  bool
	links []*proxyLink

	wg sync.WaitGroup
}

// proxyLink is one connection through a holdProxy: down is the dialler's
// side, up the target's.
type proxyLink struct {
	down, up net.Conn
	// toDown and toUp are closed to let bytes through that way (toUp
	// after the dialler's first read).
	toDown, toUp     chan struct{}
	downOnce, upOnce sync.Once
	// connected is closed once the dialler's CONNECT passed (holdRedial).
	connected chan struct{}
	// keepUp: the dialler's side was closed by the test (dropDown), and
	// the target's is kept open.
	keepUp atomic.Bool
}

// dropDown closes the dialler's side only: the dialler loses the route,
// the target keeps it.
func (l *proxyLink) dropDown() {
	l.keepUp.Store(true)
	l.down.Close()
}

func (l *proxyLink) releaseDown() { l.downOnce.Do(func() { close(l.toDown) }) }
func (l *proxyLink) releaseUp()   { l.upOnce.Do(func() { close(l.toUp) }) }

func startHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{addr: ln.Addr().String(), target: target, ln: ln}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, l := range p.links {
			l.down.Close()
			l.up.Close()
			l.releaseDown()
			l.releaseUp()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *holdProxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		l := &proxyLink{down: down, up: up, toDown: make(chan struct{}), toUp: make(chan struct{}), connected: make(chan struct{})}
		p.mu.Lock()
		p.links = append(p.links, l)
		if !p.hold {
			l.releaseDown()
			l.releaseUp()
		}
		p.mu.Unlock()
		p.wg.Go(func() {
			// The dialler's CONNECT passes at once (the target would
			// time the route out, not authenticated, otherwise).
			if err := passLine(up, down); err == nil {
				close(l.connected)
				<-l.toUp
				_, _ = io.Copy(up, down)
			}
			if !l.keepUp.Load() {
				up.Close()
			}
		})
		p.wg.Go(func() {
			<-l.toDown
			_, _ = io.Copy(down, up)
			down.Close()
		})
	}
}

// passLine copies from src to dst up to and including the first line end.
func passLine(dst io.Writer, src io.Reader) error {
	var b [1]byte
	for {
		if _, err := io.ReadFull(src, b[:]); err != nil {
			return err
		}
		if _, err := dst.Write(b[:]); err != nil {
			return err
		}
		if b[0] == '\n' {
			return nil
		}
	}
}

// holdNew sets whether new connections are held.
func (p *holdProxy) holdNew(hold bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = hold
}

// held returns the connections not yet released towards the dialler.
func (p *holdProxy) held() []*proxyLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*proxyLink
	for _, l := range p.links {
		select {
		case <-l.toDown:
		default:
			out = append(out, l)
		}
	}
	return out
}

// releaseAll lets every held connection through both ways.
func (p *holdProxy) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.releaseDown()
		l.releaseUp()
	}
}

// byUpstream finds the connection whose target side has local address
// addr (as the target reports its peer).
func (p *holdProxy) byUpstream(addr string) *proxyLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		if l.up.LocalAddr().String() == addr {
			return l
		}
	}
	return nil
}

// proxiedPair is A, and B (chaos on) whose one peer is A through p1; a
// second proxy to A, p2, is there to move A to. whole is how many routes
// B makes to A, accounts how many of them are pinned accounts' routes.
type proxiedPair struct {
	t               *testing.T
	a, b            *Server
	p1, p2          *holdProxy
	bLogs           *captureHandler
	whole, accounts int
	// gen is the generation of B's routes to A when the pair was up.
	gen   uint64
	start time.Time
}

// buildAttempts bounds how often a short-pool test builds its state. B's
// short-pool watch redials once B's routes to A stay short for
// shortGrace after a route's close, and building the state leaves them
// short for moments: when the test runs slower than that (a loaded
// machine), the watch may redial before the state is built and checked.
// That attempt proves nothing either way, and the test builds the state
// again, with a new pair; it fails if no attempt gets through.
const buildAttempts = 3

// buildShort runs build on a new pair until an attempt is not overtaken
// by B's redial (build returns false), at most buildAttempts times.
func buildShort(t *testing.T, build func(pp *proxiedPair) bool) {
	t.Helper()
	for i := 1; i <= buildAttempts; i++ {
		pp := startProxiedPair(t)
		if build(pp) {
			return
		}
		t.Logf("attempt %d: B redialled its routes to A %v into building the state, before it was checked (the test ran slower than shortGrace, %v): building it again",
			i, time.Since(pp.start).Round(time.Millisecond), shortGrace)
		_ = pp.b.Close()
		_ = pp.a.Close()
	}
	t.Fatalf("B redialled its routes to A before the state was built and checked, in all %d attempts", buildAttempts)
}

// overtaken reports whether B redialled its routes to A (moved them to
// their next generation) since the pair was up.
func (pp *proxiedPair) overtaken() bool {
	return routeGen(pp.b, "A") != pp.gen
}

// wait polls cond until it holds, or B redialled its routes to A; it
// reports whether cond held and B had not redialled.
func (pp *proxiedPair) wait(what string, cond func() bool) bool {
	pp.t.Helper()
	waitFor(pp.t, what, func() bool { return pp.overtaken() || cond() })
	return !pp.overtaken()
}

// strandRedial drops B's side of l, a route through p1, and holds B's
// redial of it in flight; then B moves A to p2 (a reload), whose new
// dials are held too, and closes the routes it has. The redial, not yet
// registered, is not closed: it is returned, to be released by the test.
// strandRedial reports false if B redialled its routes to A meanwhile
// (wait).
func (pp *proxiedPair) strandRedial(l *proxyLink, what string) (*proxyLink, bool) {
	pp.t.Helper()
	stale, ok := pp.holdRedial(l, what)
	if !ok {
		return nil, false
	}
	pp.p2.holdNew(true)
	if _, _, err := pp.b.SetPeers([]Peer{{Name: "A", Route: pp.p2.addr}}); err != nil {
		pp.t.Fatal(err)
	}
	return stale, true
}

// holdRedial drops B's side of l, a route through p1, and returns B's
// redial of it, held, once it is in flight for good: its CONNECT passed.
// Until then a reload still ends it unseen: nats-server checks that a
// route it dialled is still configured after the TCP dial and before it
// sends CONNECT, and closes the connection without a word if not (under
// load a reload lands in between). From CONNECT on it is a route
// connection, which a reload does not close before it registers. It
// reports false if B redialled its routes to A meanwhile (wait).
func (pp *proxiedPair) holdRedial(l *proxyLink, what string) (*proxyLink, bool) {
	pp.t.Helper()
	pp.p1.holdNew(true)
	l.dropDown()
	var redial *proxyLink
	ok := pp.wait(what+", in flight (its CONNECT passed)", func() bool {
		held := pp.p1.held()
		if len(held) != 1 {
			return false
		}
		select {
		case <-held[0].connected:
			redial = held[0]
			return true
		default:
			return false
		}
	})
	return redial, ok
}

// staysShort checks, for shortGrace/2, that B has not yet redialled its
// routes to A, whose state short reports (an error says how it differs).
// It fails the test if the state changed while B had not redialled, and
// reports false if B redialled (wait).
func (pp *proxiedPair) staysShort(short func() error) bool {
	pp.t.Helper()
	for start := time.Now(); time.Since(start) < shortGrace/2; time.Sleep(20 * time.Millisecond) {
		if err := short(); err != nil {
			if pp.overtaken() {
				return false
			}
			pp.t.Fatal(err)
		}
	}
	return !pp.overtaken()
}

// routeGen is the generation of s's routes to peer (routeMark).
func routeGen(s *Server, peer string) uint64 {
	return s.check.mark(peer).gen
}

// startProxiedPair starts a proxiedPair and returns once all of B's
// routes to A are up at both ends.
func startProxiedPair(t *testing.T) *proxiedPair {
	t.Helper()
	aCfg := testConfig(t, "A")
	withRouteAuth("right-horse-battery")(&aCfg)
	a := startServer(t, aCfg)
	p1, p2 := startHoldProxy(t, a.ClusterAddr()), startHoldProxy(t, a.ClusterAddr())

	bLogs := newCapture(slog.LevelDebug)
	bCfg := testConfig(t, "B")
	withRouteAuth("right-horse-battery")(&bCfg)
	bCfg.Chaos = true
	bCfg.Peers = []Peer{{Name: "A", Route: p1.addr}}
	bCfg.Logger = slog.New(teeHandler{bLogs, bCfg.Logger.Handler()})
	b := startServer(t, bCfg)

	b.reloadMu.Lock()
	whole, accounts := wholePool(b.opts), len(b.opts.Cluster.PinnedAccounts)
	b.reloadMu.Unlock()
	if accounts < 1 || whole < 2 {
		t.Fatalf("B makes %d routes to A, %d of accounts; want a pool and an account's route", whole, accounts)
	}
	waitFor(t, "all of B's routes to A", func() bool { return len(routesTo(t, b, "A")) == whole })
	waitFor(t, "all of A's routes from B", func() bool { return len(routesTo(t, a, "B")) == whole })
	return &proxiedPair{t: t, a: a, b: b, p1: p1, p2: p2, bLogs: bLogs, whole: whole, accounts: accounts,
		gen: routeGen(b, "A"), start: time.Now()}
}

// A route dial in flight across a reload registers after it, in the first
// place of B's route pool to A, and ends B's dials for the pool (it is
// full); A then closes it as the duplicate of a route still in that place
// at A. B does not redial it (its address is no longer configured), and
// A, whose route in that place closes next, redials it without
// credentials, which B refuses: nothing dials that place of the pool any
// more, and B is left with one route to A short, for good. B redials its
// routes to A once its refusals of A's redial find them short for
// shortGrace.
func TestServer_BlockRoutes_shortPoolRedialled(t *testing.T) {
	buildShort(t, func(pp *proxiedPair) bool {
		a, b, p1, p2, whole := pp.a, pp.b, pp.p1, pp.p2, pp.whole

		// The first place of the pool at A: B dials the pooled routes one
		// after the other, so the first A accepted.
		var first *server.RouteInfo
		for _, r := range routesTo(t, a, "B") {
			if r.Account == "" && (first == nil || r.Rid < first.Rid) {
				first = r
			}
		}
		place0 := p1.byUpstream(net.JoinHostPort(first.IP, strconv.Itoa(first.Port)))
		if place0 == nil {
			t.Fatalf("A's route %d from B does not pass the proxy", first.Rid)
		}

		// B loses that route (A keeps it) and redials it, held in flight;
		// B moves A to another address, and its routes there are held too.
		stale, ok := pp.strandRedial(place0, "B's redial of the route it lost")
		if !ok {
			return false
		}
		if !pp.wait("A left with only the route B lost", func() bool { return len(routesTo(t, a, "B")) == 1 }) {
			return false
		}

		// The dial in flight registers at B, in the pool's first place; then
		// B's new routes fill the pool.
		stale.releaseDown()
		var staleID uint64
		if !pp.wait("the stale dial registered at B", func() bool {
			for _, r := range routesTo(t, b, "A") {
				if net.JoinHostPort(r.IP, strconv.Itoa(r.Port)) == p1.addr {
					staleID = r.Rid
					return true
				}
			}
			return false
		}) {
			return false
		}
		p2.holdNew(false)
		p2.releaseAll()
		if !pp.wait("B's pool to A full", func() bool { return len(routesTo(t, b, "A")) == whole }) {
			return false
		}

		// A closes the stale dial, the duplicate of the route it still has in
		// that place; then that route closes, and A redials it.
		stale.releaseUp()
		// By its id: Routez lists a closed route without its address until
		// nats-server takes it out of the pool, a moment later.
		if !pp.wait("the stale dial gone at B", func() bool {
			return !slices.ContainsFunc(routesTo(t, b, "A"), func(r *server.RouteInfo) bool { return r.Rid == staleID })
		}) {
			return false
		}
		if n := len(routesTo(t, b, "A")); n != whole-1 {
			if pp.overtaken() {
				return false
			}
			t.Fatalf("B has %d routes to A after the stale dial closed, want %d", n, whole-1)
		}
		place0.up.Close()
		const redial = "redials a route this node dialled, without credentials"
		if !pp.wait("A's redial without credentials refused at B", func() bool { return pp.bLogs.count(redial) > 0 }) {
			return false
		}
		// Nothing else dials that place: B stays short until it redials.
		if !pp.staysShort(func() error {
			if n := len(routesTo(t, b, "A")); n != whole-1 {
				return fmt.Errorf("B has %d routes to A before it redialled, want %d", n, whole-1)
			}
			return nil
		}) {
			return false
		}

		waitFor(t, "all of B's routes to A again", func() bool { return len(routesTo(t, b, "A")) == whole })
		waitFor(t, "B's note that it redialled them", func() bool { return pp.bLogs.count("routes redialled: "+shortWhy) > 0 })
		return true
	})
}
