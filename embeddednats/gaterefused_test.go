package embeddednats

import (
	"log/slog"
	"testing"
	"time"
)

// A peer that refuses this server (a wrong route password there) leaves
// this server's routes to it short of a whole pool for good, and the ones
// it holds before refusing are registered here meanwhile. With the chaos
// gate on (as every herd node runs), the short-pool watch took them for
// routes "left" and redialled the peer every 2s, each redial a reload
// whose closes started the next watch: the peer was dialled once a second
// and this server reloaded every 2s for as long as the mistake lasted.
// Refused and reload-removed closes start no watch (goneCounts): this
// server never redials the peer, and its dials back off as the peer holds
// its refusals longer.
func TestServer_refusedPeerNotRedialled(t *testing.T) {
	window := 6 * time.Second
	proxyW := startProxy(t, "")
	wLogs := newCapture(slog.LevelInfo)
	wc := loggedAuthConfig(t, "W", "wrong-staple", wLogs)
	wc.PeersOnly, wc.Chaos = true, true
	wc.ClusterAdvertise = proxyW.addr
	wc.Peers = []Peer{{Name: "A", Route: "127.0.0.1:0"}} // A dials W
	w := startServer(t, wc)
	proxyW.setTarget(w.ClusterAddr())

	aLogs := newCapture(slog.LevelInfo)
	ac := loggedAuthConfig(t, "A", "right-horse-battery", aLogs)
	ac.PeersOnly, ac.Chaos = true, true
	ac.Peers = []Peer{{Name: "W", Route: proxyW.addr}}
	a := startServer(t, ac)

	// W has held a refusal of A (its second and later ones are held).
	waitFor(t, "W to hold a refusal of A", func() bool {
		return wLogs.count("route password mismatch with A") >= 2
	})
	// A's routes to W stay short: the watch would redial within 2s.
	start, dials := time.Now(), proxyW.accepts.Load()
	redials := aLogs.count("routes redialled")
	for time.Since(start) < window {
		if n := a.NumPeers(); n != 0 {
			t.Fatalf("A joined %v, whose route password is not W's", a.Peers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	dials = proxyW.accepts.Load() - dials
	t.Logf("A dialled W %d times in %v", dials, took.Round(time.Millisecond))
	if got := aLogs.count("routes redialled") - redials; got != 0 {
		t.Errorf("A redialled W, which refuses it, %d times in %v, want never", got, took)
		for _, r := range aLogs.records() {
			t.Logf("A: %s", r.Message)
		}
	}
	// W answers A's dials after a hold that doubles from 1s (refusals.go):
	// at most one dial per 2s of each of A's two routes there (the pool's
	// first and the system account's).
	if max := 2 * (int64(took/(2*time.Second)) + 1); dials > max {
		t.Errorf("A dialled W %d times in %v, want at most %d (one per 2s per route)", dials, took, max)
	}
}
