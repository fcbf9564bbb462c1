package embeddednats

import (
	"log/slog"
	"testing"
	"time"
)

// A pending short-pool watch that counted a peer's routes whole ends only
// if no route's close was told since it counted: nats-server tells of a
// close before Routez drops the route, so a count taken around it may
// still hold that route, and a watch that ended on it would leave nobody
// to see the routes short (the close found the watch pending, and only
// restarted its grace). Such a watch goes on, its grace restarted, and
// does not count the routes told closed.
func TestRouteCheck_shortWatchEndsQuiet(t *testing.T) {
	cfg := testConfig(t, "B")
	cfg.Chaos = true
	rc := newRouteCheck(cfg, slog.New(slog.DiscardHandler), nil, newPeerSet([]Peer{{Name: "A", Route: "127.0.0.1:4248"}}))
	start := time.Now()
	if !rc.shortSeen("A", start, true, 7) {
		t.Fatal("a route's close started no watch")
	}
	counted := rc.shortState("A")
	if !counted.gone[7] {
		t.Errorf("the watch counts route 7, told closed: gone %v", counted.gone)
	}

	// Route 9 closes while the watch counts.
	if rc.shortSeen("A", start.Add(time.Millisecond), true, 9) {
		t.Fatal("a second watch started while one is pending")
	}
	if rc.endQuiet("A", counted.closes) {
		t.Fatal("the watch ended on a count taken before a route's close was told")
	}
	w := rc.shortState("A")
	if !w.since.After(counted.since) || !w.gone[9] {
		t.Errorf("after route 9 closed: seen short at %v (before: %v), gone %v; want later, with 9", w.since, counted.since, w.gone)
	}
	if !rc.endQuiet("A", w.closes) {
		t.Fatal("the watch did not end on a count with no close since")
	}
	if !rc.shortSeen("A", start.Add(2*time.Millisecond), true, 11) {
		t.Fatal("a route's close after the watch ended started no new one")
	}
}
