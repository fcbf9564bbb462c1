package node_test

import (
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// The node's own connection cut by its server (as nats-server does to a
// client that falls behind) is counted as a flood drop, scraped from
// /metrics, and the node reconnects and floods again.
func TestNatsDisconnects_Counted(t *testing.T) {
	h := nodetest.Start(t, nodetest.Line3, nodetest.WithConfig(nodetest.Monitor))
	a := h.Node("A")
	dropped := func() float64 {
		return nodetest.Scrape(t, a.MonitorURL()).Value("herd_flood_dropped_records_total", "reason", "disconnected")
	}
	if got := dropped(); got != 0 {
		t.Fatalf("disconnected %v before any cut", got)
	}
	srv := a.NATS().NATS()
	cz, err := srv.Connz(&natsserver.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, c := range cz.Conns {
		if c.Name == "A" {
			id = c.Cid
		}
	}
	if id == 0 {
		t.Fatal("the node's own connection is not in connz")
	}
	if err := srv.DisconnectClientByID(id); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the cut counted", func() bool { return dropped() == 1 })
	h.IAMAT("A", "after-cut", "+1+1", "1621464827")
	wait.For(t, "the flood working again", func() bool { _, ok := h.Node("C").Store().Get("after-cut"); return ok })
}
