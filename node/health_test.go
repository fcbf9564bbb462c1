package node_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// /healthz keeps its neighbor rule but also lists the herd's nodes the
// node has no route to: A's only neighbor is B, so C down leaves A healthy
// (the flood needs only B) and names C as unreachable (A and C no longer
// exchange anything over NATS).
func TestNode_Healthz_unreachablePeers(t *testing.T) {
	topo := map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}
	h := startHerd(t, topo, monitorOn, func(name string, c *node.Config) {
		for _, p := range []string{"A", "B", "C"} {
			if p != name {
				c.NATS.Peers = append(c.NATS.Peers, embeddednats.Peer{Name: p, Route: "127.0.0.1:0"})
			}
		}
	})
	a := h.Node("A")
	health := func() (int, node.Health) {
		code, body := get(t, a, "/healthz")
		var hz node.Health
		if err := json.Unmarshal(body, &hz); err != nil {
			t.Fatalf("/healthz body %q: %v", body, err)
		}
		return code, hz
	}
	if code, hz := health(); code != http.StatusOK || len(hz.UnreachablePeers) != 0 {
		t.Fatalf("whole mesh: %d %+v", code, hz)
	}
	h.Stop("C")
	var hz node.Health
	var code int
	wait.For(t, "A to miss C", func() bool {
		code, hz = health()
		return len(hz.UnreachablePeers) > 0
	})
	if code != http.StatusOK || hz.Status != node.HealthOK || len(hz.Missing) != 0 || !slices.Equal(hz.UnreachablePeers, []string{"C"}) {
		t.Fatalf("C down: %d %+v, want ok (neighbor B is up) with C unreachable", code, hz)
	}
	h.StartNode("C")
	wait.For(t, "A to reach C again", func() bool {
		_, hz = health()
		return len(hz.UnreachablePeers) == 0
	})
}
