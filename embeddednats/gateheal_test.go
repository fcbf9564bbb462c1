package embeddednats

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// A cut healed at once, again and again, with the peers reloaded in
// between: every time, the routes come back whole. The cut's marked dials
// are still under way when the heal reloads the routes; one of them, let
// in at this end a moment after the heal and refused by the peer, used to
// take the place of a route the heal dialled for good (B never had A
// among its peers again), and the peer's redial of a route it had
// accepted, without credentials, was held as a stranger's.
func TestServer_BlockRoutes_quickHeal(t *testing.T) {
	const rounds = 30
	logs := newCapture(slog.LevelInfo)
	a, b, c := startChain(t, func(c *Config) {
		withRouteAuth("right-horse-battery")(c)
		c.Chaos = true
		c.Logger = slog.New(teeHandler{logs, c.Logger.Handler()})
	})
	// Every route connection of B to A: the pooled ones and those of the
	// pinned accounts, as B's options (nats-server's defaults filled in)
	// set them. Counted from the running routes instead, they would be
	// short by those still connecting when the chain formed.
	b.reloadMu.Lock()
	whole := b.opts.Cluster.PoolSize + len(b.opts.Cluster.PinnedAccounts)
	b.reloadMu.Unlock()
	if whole < 2 {
		t.Fatalf("B has %d routes to A, want a pool and an account's route", whole)
	}
	waitFor(t, "all of B's routes to A", func() bool { return len(routesTo(t, b, "A")) == whole })
	peerSets := [][]Peer{
		{{Name: "A", Route: a.ClusterAddr()}},
		{{Name: "A", Route: a.ClusterAddr()}, {Name: "C", Route: c.ClusterAddr()}},
	}
	for i := range rounds {
		if _, _, err := b.SetPeers(peerSets[i%2]); err != nil {
			t.Fatal(err)
		}
		if err := b.BlockRoutes(RouteBlock{Peers: []string{"A"}}); err != nil {
			t.Fatal(err)
		}
		if got := b.Blocked(); !slices.Equal(got.Peers, []string{"A"}) {
			t.Fatalf("round %d: Blocked() = %+v during the cut, want A", i, got)
		}
		if err := b.BlockRoutes(RouteBlock{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "A back among B's peers, with all its routes", func() bool {
			return slices.Contains(b.Peers(), "A") && slices.Contains(a.Peers(), "B") && len(routesTo(t, b, "A")) == whole
		})
	}
	if n := logs.count("Authorization Violation"); n == 0 {
		t.Fatal("no route was refused: the cuts took no hold, the test proves nothing")
	}
	// The peer's redial without credentials is no stranger's.
	for _, r := range logs.records() {
		if r.Level >= slog.LevelError && strings.Contains(r.Message, "refused") {
			t.Errorf("refusal logged as an error: %s", r.Message)
		}
	}
}
