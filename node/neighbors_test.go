package node

import (
	"errors"
	"slices"
	"testing"
)

// A node joins a running herd and leaves it again without any other node
// restarting: its neighbor adopts it with SetNeighbors, anti-entropy hands
// it every record, and the flood reaches it from then on.
func TestNode_SetNeighbors(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A"}})
	before := h.iamat("A", "early", "+1+1", "1621464827")
	h.waitRecord("early", before, "A", "B")

	// C starts with B as its neighbor; B does not know it yet.
	h.topo["C"] = []string{"B"}
	h.start("C")
	h.waitFormed()
	fromC := h.iamat("C", "from-c", "+2+2", "1621464827")
	h.waitRecord("from-c", fromC, "A", "B", "C") // B takes C's flood and relays it

	if err := h.nodes["B"].SetNeighbors([]string{"A", "C"}); err != nil {
		t.Fatal(err)
	}
	h.topo["B"] = []string{"A", "C"}
	if got := h.nodes["B"].Neighbors(); !slices.Equal(got, []string{"A", "C"}) {
		t.Fatalf("Neighbors() = %v", got)
	}
	h.waitRecord("early", before, "C") // by anti-entropy with B
	later := h.iamat("A", "later", "+3+3", "1621464828")
	h.waitRecord("later", later, "C") // by the flood A → B → C

	// C leaves: B drops it, and its health no longer asks for it.
	if err := h.nodes["B"].SetNeighbors([]string{"A"}); err != nil {
		t.Fatal(err)
	}
	h.topo["B"] = []string{"A"}
	h.stop("C")
	waitUntil(t, "B healthy without C", func() bool { return h.nodes["B"].Health().Status == HealthOK })
	last := h.iamat("A", "last", "+4+4", "1621464829")
	h.waitRecord("last", last, "A", "B")

	if err := h.nodes["B"].SetNeighbors([]string{"B"}); err == nil {
		t.Fatal("a node became its own neighbor")
	}
	closed := h.nodes["A"]
	h.stop("A")
	if err := closed.SetNeighbors([]string{"B"}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("SetNeighbors on a closed node: %v", err)
	}
}
