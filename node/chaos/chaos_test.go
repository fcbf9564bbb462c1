package chaos_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest"
)

// floodOnly turns periodic anti-entropy off, so that what arrives arrived
// by the flood (or by the sync a route coming up triggers).
func floodOnly(c *node.Config) { nodetest.FloodOnly("", c) }

// Cutting one route leaves the herd connected: records reach every node
// through the other paths at once; healing it brings the route back
// within a few seconds.
func TestNet_CutAndHeal(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	if err := h.Net.Cut("Goloman", "Hands"); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	for i, origin := range []string{"Hands", "Goloman", "Welsh"} {
		client := "cut-" + origin
		line := iamat(h, origin, client, fmt.Sprint(1621464827+i))
		want := map[string]string{}
		for _, n := range h.Live() {
			for c, l := range nodetest.Lines(h.Node(n)) {
				want[c] = l
			}
		}
		want[client] = line
		took := h.WaitConverged(want, 2*time.Second, h.Live()...)
		t.Logf("with Goloman–Hands cut, %s's record reached all five in %s", origin, took.Round(time.Millisecond))
	}
	if err := h.Net.Heal("Goloman", "Hands"); err != nil {
		t.Fatal(err)
	}
	took := h.WaitRoutes(5 * time.Second)
	t.Logf("route Goloman–Hands back %s after heal", took.Round(time.Millisecond))
}

// Partition {Goloman, Hands, Wilkes} from {Holiday, Welsh}, write on both
// sides, the same clients included, and heal: all five hold the newest
// record of every client within 5 s.
func TestNet_PartitionHeals(t *testing.T) {
	h := startHerd(t, defaultTopology, nil)
	left, right := []string{"Goloman", "Hands", "Wilkes"}, []string{"Holiday", "Welsh"}
	if err := h.Net.Partition(left, right); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	want := map[string]string{}
	var leftLines, rightLines []string
	for i := range 60 {
		// shared-i is written on both sides; which side is newer alternates.
		l := iamat(h, left[i%3], fmt.Sprintf("shared-%d", i), fmt.Sprintf("1621464827.%03d", 100+i+(i%2)*500))
		r := iamat(h, right[i%2], fmt.Sprintf("shared-%d", i), fmt.Sprintf("1621464827.%03d", 300+i))
		leftLines = append(leftLines, l, iamat(h, left[i%3], fmt.Sprintf("left-%d", i), "1621464828"))
		rightLines = append(rightLines, r, iamat(h, right[i%2], fmt.Sprintf("right-%d", i), "1621464828"))
	}
	sideL, sideR := map[string]string{}, map[string]string{}
	nodetest.Newest(t, sideL, leftLines...)
	nodetest.Newest(t, sideR, rightLines...)
	h.WaitConverged(sideL, 10*time.Second, left...)
	h.WaitConverged(sideR, 10*time.Second, right...)
	nodetest.Newest(t, want, leftLines...)
	nodetest.Newest(t, want, rightLines...)

	h.Net.HealAll()
	took := h.WaitConverged(want, 5*time.Second, h.Live()...)
	t.Logf("after heal, all five hold the newest of %d clients in %s", len(want), took.Round(time.Millisecond))
	h.WaitRoutes(10 * time.Second)
}

func TestNet_Errors(t *testing.T) {
	n := chaos.New()
	defer n.Close()
	if _, err := n.Listen(t.Context(), "A", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Listen(t.Context(), "A", "127.0.0.1:0"); !errors.Is(err, chaos.ErrExists) {
		t.Errorf("second Listen: %v", err)
	}
	if err := n.Cut("A", "Z"); !errors.Is(err, chaos.ErrUnknownNode) {
		t.Errorf("Cut with unknown node: %v", err)
	}
	if err := n.Cut("A", "A"); !errors.Is(err, chaos.ErrSameNode) {
		t.Errorf("Cut of a node with itself: %v", err)
	}
	if err := n.Heal("Z", "A"); !errors.Is(err, chaos.ErrUnknownNode) {
		t.Errorf("Heal with unknown node: %v", err)
	}
	if err := n.SetNode("Z", "", ""); !errors.Is(err, chaos.ErrUnknownNode) {
		t.Errorf("SetNode of unknown node: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := n.Listen(t.Context(), "B", "127.0.0.1:0"); !errors.Is(err, chaos.ErrClosed) {
		t.Errorf("Listen after Close: %v", err)
	}
}
