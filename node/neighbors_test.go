package node_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// A node joins a running herd and leaves it again without any other node
// restarting: until its neighbor adopts it with SetNeighbors, its flood is
// refused there (protocol.md §2: only configured neighbors); then
// anti-entropy swaps every record both ways, and the flood reaches it from
// then on.
func TestNode_SetNeighbors(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A"}}, monitorOn)
	before := h.IAMAT("A", "early", "+1+1", "1621464827")
	h.WaitRecord("early", before, "A", "B")

	// C starts with B as its neighbor; B does not know it yet, and
	// refuses what C sends it: counted, never stored.
	h.Topo["C"] = []string{"B"}
	h.StartNode("C")
	h.WaitFormed()
	fromC := h.IAMAT("C", "from-c", "+2+2", "1621464827")
	wait.For(t, "B refusing C's flood", func() bool {
		return scrape(t, h.Node("B")).Value("herd_flood_invalid_total", "from", "other", "reason", "not_neighbor") >= 1
	})
	for _, name := range []string{"A", "B"} {
		if r, ok := h.Node(name).Store().Get("from-c"); ok {
			t.Fatalf("%s stored %q from a node that is not B's neighbor", name, r.Line)
		}
	}

	if err := h.Node("B").SetNeighbors([]string{"A", "C"}); err != nil {
		t.Fatal(err)
	}
	h.Topo["B"] = []string{"A", "C"}
	if got := h.Node("B").Neighbors(); !slices.Equal(got, []string{"A", "C"}) {
		t.Fatalf("Neighbors() = %v", got)
	}
	h.WaitRecord("early", before, "C")           // by anti-entropy with B
	h.WaitRecord("from-c", fromC, "A", "B", "C") // and back, then the flood B → A
	later := h.IAMAT("A", "later", "+3+3", "1621464828")
	h.WaitRecord("later", later, "C") // by the flood A → B → C

	// C leaves: B drops it, and its health no longer asks for it.
	if err := h.Node("B").SetNeighbors([]string{"A"}); err != nil {
		t.Fatal(err)
	}
	h.Topo["B"] = []string{"A"}
	h.Stop("C")
	wait.For(t, "B healthy without C", func() bool { return h.Node("B").Health().Status == node.HealthOK })
	last := h.IAMAT("A", "last", "+4+4", "1621464829")
	h.WaitRecord("last", last, "A", "B")

	if err := h.Node("B").SetNeighbors([]string{"B"}); err == nil {
		t.Fatal("a node became its own neighbor")
	}
	closed := h.Node("A")
	h.Stop("A")
	if err := closed.SetNeighbors([]string{"B"}); !errors.Is(err, node.ErrNotRunning) {
		t.Fatalf("SetNeighbors on a closed node: %v", err)
	}
}
