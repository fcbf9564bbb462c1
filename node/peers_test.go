package node

import (
	"sync"
	"testing"
	"time"
)

// upLog records the neighbors watchPeers reported up.
type upLog struct {
	mu  sync.Mutex // guards ups
	ups []string
}

func (l *upLog) up(name string) {
	l.mu.Lock()
	l.ups = append(l.ups, name)
	l.mu.Unlock()
}

func (l *upLog) count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, u := range l.ups {
		if u == name {
			n++
		}
	}
	return n
}

// A route to a neighbor that closed while the neighbor stayed reachable
// (closed and redialled between two polls, or one of a pool of routes)
// gets a full repair routeRepairDelay later; a duplicate route closed while
// the cluster forms, a close at shutdown and a non-neighbor do not.
func TestWatchPeers_routeClosed(t *testing.T) {
	var lost lostRoutes
	var log upLog
	nbrs := func() []string { return []string{"B", "C"} }
	peers := func() []string { return []string{"B", "C", "D"} }
	w := watchPeers(nbrs, peers, &lost, log.up)
	defer w.stop()
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (B up %d times, C %d)", what, log.count("B"), log.count("C"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	poll("B and C up at the first poll", func() bool { return log.count("B") == 1 && log.count("C") == 1 })

	lost.closed("C", "duplicate_route")
	lost.closed("C", "server_shutdown")
	lost.closed("D", "read_error") // not a neighbor
	start := time.Now()
	lost.closed("B", "read_error")
	poll("B repaired after its route closed", func() bool { return log.count("B") == 2 })
	if d := time.Since(start); d < routeRepairDelay {
		t.Errorf("repair after %v, want no sooner than %v (the route is being redialled)", d, routeRepairDelay)
	}
	// C's closes were harmless: another full poll cycle brings nothing.
	time.Sleep(2 * peerPoll)
	if n := log.count("C"); n != 1 {
		t.Errorf("C reported up %d times, want 1 (duplicate and shutdown closes lose nothing)", n)
	}
	if log.count("D") != 0 {
		t.Errorf("non-neighbor D reported up")
	}
}
