package embeddednats

import (
	"fmt"
	"net"
	"strconv"
	"testing"
)

// A pinned account's route ($SYS) can be lost at both ends with nobody to
// redial it. B's dial of it, in flight across a reload, registers at B
// after the reload, in the account's place; B's new dial of it is then
// the duplicate at B, closed without redial, after A registered it; A,
// which did not dial it, does not redial it either. When the stale dial
// closes too, B does not redial it (its address is no longer
// configured). Both ends keep the whole route pool and no $SYS route, and
// no refused redial starts the watch. B redials its routes to A once a
// route close leaves them short (some, not all) for shortGrace.
func TestServer_BlockRoutes_accountRouteRedialled(t *testing.T) {
	buildShort(t, func(pp *proxiedPair) bool {
		a, b, p1, p2, whole, accounts := pp.a, pp.b, pp.p1, pp.p2, pp.whole, pp.accounts
		accountRoutes := func(t *testing.T, s *Server, peer string) int {
			t.Helper()
			n := 0
			for _, r := range routesTo(t, s, peer) {
				if r.Account != "" {
					n++
				}
			}
			return n
		}

		// A's account route from B.
		var sys *proxyLink
		for _, r := range routesTo(t, a, "B") {
			if r.Account != "" {
				sys = p1.byUpstream(net.JoinHostPort(r.IP, strconv.Itoa(r.Port)))
			}
		}
		if sys == nil {
			t.Fatal("A's account route from B does not pass the proxy")
		}

		// B loses the account route (A keeps it) and redials it, held in
		// flight; B moves A to another address, and its routes there are
		// held too.
		stale, ok := pp.strandRedial(sys, "B's redial of the account route")
		if !ok {
			return false
		}
		if !pp.wait("B without routes to A", func() bool { return len(routesTo(t, b, "A")) == 0 }) {
			return false
		}
		// A's old account route closes; A did not dial it and does not redial.
		sys.up.Close()
		if !pp.wait("A without routes from B", func() bool { return len(routesTo(t, a, "B")) == 0 }) {
			return false
		}

		// The dial in flight registers at B, in the account's place.
		stale.releaseDown()
		if !pp.wait("the stale account route registered at B", func() bool { return accountRoutes(t, b, "A") == 1 }) {
			return false
		}
		// B's new routes: the pool fills; the new account route registers at
		// A and is closed at B as the duplicate, without redial.
		p2.holdNew(false)
		p2.releaseAll()
		if !pp.wait("B's routes to A whole, the stale one among them", func() bool { return len(routesTo(t, b, "A")) == whole }) {
			return false
		}
		if !pp.wait("A's pool from B, without the account route", func() bool {
			return len(routesTo(t, a, "B")) == whole-accounts && accountRoutes(t, a, "B") == 0
		}) {
			return false
		}
		// The stale dial closes (A never lets it register).
		stale.up.Close()
		if !pp.wait("the stale account route closed at B", func() bool { return accountRoutes(t, b, "A") == 0 }) {
			return false
		}

		// Nobody dials it: both ends stay without it, until B redials.
		if !pp.staysShort(func() error {
			if n, m := len(routesTo(t, b, "A")), len(routesTo(t, a, "B")); n != whole-accounts || m != whole-accounts {
				return fmt.Errorf("B has %d routes to A, A %d from B, before B redialled, want %d", n, m, whole-accounts)
			}
			return nil
		}) {
			return false
		}
		if n := pp.bLogs.count("redials a route this node dialled, without credentials"); n != 0 {
			t.Fatalf("A redialled without credentials %d times: not the state this test is about", n)
		}
		waitFor(t, "all of B's routes to A again", func() bool { return len(routesTo(t, b, "A")) == whole })
		waitFor(t, "all of A's routes from B again", func() bool { return len(routesTo(t, a, "B")) == whole })
		waitFor(t, "B's note that it redialled them", func() bool { return pp.bLogs.count("routes redialled: "+shortWhy) > 0 })
		return true
	})
}
