package node

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// lines is every record a node holds, client → line.
func lines(n *Node) map[string]string {
	out := map[string]string{}
	n.Store().Range(func(r record.Record) bool {
		out[r.Client()] = r.Line
		return true
	})
	return out
}

// waitConverged polls until every named node holds exactly want, or fails
// after within.
func (h *testHerd) waitConverged(want map[string]string, within time.Duration, names ...string) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for _, name := range names {
		for !maps.Equal(lines(h.nodes[name]), want) {
			if time.Now().After(deadline) {
				got := lines(h.nodes[name])
				missing, wrong := 0, 0
				for c, l := range want {
					if g, ok := got[c]; !ok {
						missing++
					} else if g != l {
						wrong++
					}
				}
				h.t.Fatalf("%s after %s: %d records, %d missing, %d not the newest (want %d)",
					name, within, len(got), missing, wrong, len(want))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A node that was down while the others took IAMATs holds every newest
// record within 5 s of coming back, by anti-entropy with its neighbors
// (the flood sent it nothing while it was down).
func TestHerd_RestartedNodeCatchesUp(t *testing.T) {
	h := startHerd(t, defaultTopology)
	before := h.iamat("Wilkes", "old", "+1+1", "1621464000")
	h.waitRecord("old", before, h.live()...)
	h.stop("Wilkes")
	h.waitFormed()
	want := map[string]string{"old": before}
	for i := range 200 {
		origin := h.live()[i%len(h.live())]
		client := fmt.Sprintf("c%d", i%120) // some clients twice: the newest must win
		want[client] = h.iamat(origin, client, "+1+1", fmt.Sprintf("1621464827.%03d", i))
	}
	h.waitConverged(want, 10*time.Second, h.live()...)
	h.start("Wilkes")
	start := time.Now()
	h.waitConverged(want, 5*time.Second, "Wilkes")
	t.Logf("Wilkes caught up with %d records in %s", len(want), time.Since(start).Round(time.Millisecond))
	h.waitFormed()
}
