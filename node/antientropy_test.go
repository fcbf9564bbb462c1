package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/nodetest"
)

// A node that was down while the others took IAMATs holds every newest
// record within 5 s of coming back, by anti-entropy with its neighbors
// (the flood sent it nothing while it was down).
func TestHerd_RestartedNodeCatchesUp(t *testing.T) {
	h := startHerd(t, nodetest.DefaultTopology)
	before := h.IAMAT("Wilkes", "old", "+1+1", "1621464000")
	h.WaitRecord("old", before, h.Live()...)
	h.Stop("Wilkes")
	h.WaitFormed()
	want := map[string]string{"old": before}
	for i := range 200 {
		origin := h.Live()[i%len(h.Live())]
		client := fmt.Sprintf("c%d", i%120) // some clients twice: the newest must win
		want[client] = h.IAMAT(origin, client, "+1+1", fmt.Sprintf("1621464827.%03d", i))
	}
	h.WaitConverged(want, 10*time.Second, h.Live()...)
	h.StartNode("Wilkes")
	took := h.WaitConverged(want, 5*time.Second, "Wilkes")
	t.Logf("Wilkes caught up with %d records in %s", len(want), took.Round(time.Millisecond))
	h.WaitFormed()
}

// The repair counter counts real repairs, as /metrics and the live view
// show them: Welsh is stopped, Goloman takes five IAMATs, Welsh comes back
// empty and anti-entropy gives it the five; then its route to Holiday (its
// only neighbor) is cut (herd chaos), Goloman takes three more, and the
// heal repairs those. Welsh's
// herd_antientropy_repaired_records_total, scraped, says 5 then 8, and a
// browser of Goloman's live view sees Welsh's repairs — carried by Welsh's
// heartbeat from the same counters — reach 8. With the anti-entropy hook
// unwired both stay at zero.
func TestHerd_RepairCounted(t *testing.T) {
	h := nodetest.Start(t, nodetest.DefaultTopology, nodetest.WithChaos(), nodetest.WithConfig(func(name string, c *node.Config) {
		nodetest.Monitor(name, c)
		nodetest.FloodOnly(name, c) // repairs happen at start and heal only
	}))
	viewer := nodetest.OpenStream(t, h.Node("Goloman").MonitorURL())
	viewer.FrameUntil("every node and route up", 10*time.Second, nodetest.AllUp)

	h.Stop("Welsh")
	h.WaitFormed()
	want := map[string]string{}
	for i := range 5 {
		client := fmt.Sprintf("while-down-%d", i)
		want[client] = h.IAMAT("Goloman", client, "+34.068930-118.445127", fmt.Sprintf("1621464827.%d", i))
	}
	h.WaitConverged(want, 10*time.Second, "Goloman", "Hands", "Holiday", "Wilkes")
	h.StartNode("Welsh")
	h.WaitConverged(want, 10*time.Second, "Welsh")
	// A record pulled is counted when its exchange ends, a moment after
	// it is stored (and seen above).
	repaired := func(n float64) {
		t.Helper()
		nodetest.WaitCount(t, h.Node("Welsh").MonitorURL(), "herd_antientropy_repaired_records_total", n, "node", "Welsh")
	}
	repaired(5)

	if err := h.Chaos.Cut("Holiday", "Welsh"); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	for i := range 3 {
		client := fmt.Sprintf("while-cut-%d", i)
		want[client] = h.IAMAT("Goloman", client, "+1+1", fmt.Sprintf("1621464828.%d", i))
	}
	h.WaitConverged(want, 10*time.Second, "Goloman", "Hands", "Holiday", "Wilkes")
	if got := nodetest.Lines(h.Node("Welsh")); len(got) != 5 {
		t.Fatalf("Welsh holds %d records while cut off, want the 5 from before", len(got))
	}
	if err := h.Chaos.Heal("Holiday", "Welsh"); err != nil {
		t.Fatal(err)
	}
	h.WaitConverged(want, 10*time.Second, "Welsh")
	repaired(8)
	viewer.FrameUntil("Welsh's 8 repairs", 10*time.Second, func(f live.Frame) bool {
		return nodetest.NodeState(f, "Welsh").Stats.Repairs == 8
	})
}
