package node_test

import (
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// The flood's link ("A-flood", subscribed to herd.at.A, publishing A's
// flood) cut by its server (as nats-server does to a client that falls
// behind) is counted as a flood drop, scraped from /metrics; the node's
// nats.go connection ("A": anti-entropy) carries no flood, so its cut is
// not. After either, the node reconnects and floods both ways again.
func TestNatsDisconnects_Counted(t *testing.T) {
	for _, tt := range []struct {
		conn string
		want float64
	}{{"A-flood", 1}, {"A", 0}} {
		t.Run(tt.conn, func(t *testing.T) {
			h := nodetest.Start(t, nodetest.Line3, nodetest.WithConfig(nodetest.Monitor))
			a := h.Node("A")
			dropped := func() float64 {
				return nodetest.Scrape(t, a.MonitorURL()).Value("herd_flood_dropped_records_total", "reason", "disconnected")
			}
			if got := dropped(); got != 0 {
				t.Fatalf("disconnected %v before any cut", got)
			}
			srv := a.NATS().NATS()
			c, ok := connNamed(t, srv, tt.conn)
			if !ok {
				t.Fatalf("the node's connection %s is not in connz", tt.conn)
			}
			if err := srv.DisconnectClientByID(c.Cid); err != nil {
				t.Fatal(err)
			}
			wait.For(t, "the cut counted as it should be", func() bool { return dropped() == tt.want })
			wait.For(t, "the connection back", func() bool { c2, ok := connNamed(t, srv, tt.conn); return ok && c2.Cid != c.Cid })
			h.IAMAT("A", "from-a", "+1+1", "1621464827")
			wait.For(t, "A's flood out again", func() bool { _, ok := h.Node("C").Store().Get("from-a"); return ok })
			h.IAMAT("C", "from-c", "+1+1", "1621464827")
			wait.For(t, "A's flood in again", func() bool { _, ok := a.Store().Get("from-c"); return ok })
			if got := dropped(); got != tt.want {
				t.Fatalf("disconnected %v, want %v", got, tt.want)
			}
		})
	}
}

// The node receives its flood on its own link: herd.at.<node> is
// subscribed on "<node>-flood" and on no other connection of the node.
func TestNode_floodLink(t *testing.T) {
	h := nodetest.Start(t, nodetest.Line3)
	srv := h.Node("B").NATS().NATS()
	link, ok := connNamed(t, srv, "B-flood")
	if !ok || len(link.Subs) != 1 || link.Subs[0] != bus.Subject("B") {
		t.Fatalf("B-flood %v: want one subscription, on %s", link, bus.Subject("B"))
	}
	own, ok := connNamed(t, srv, "B")
	if !ok {
		t.Fatal("no connection B")
	}
	for _, s := range own.Subs {
		if s == bus.Subject("B") {
			t.Fatalf("B's nats.go connection subscribes to %s too", s)
		}
	}
}

// connNamed returns srv's client connection named name, with its
// subscriptions.
func connNamed(t *testing.T, srv *natsserver.Server, name string) (*natsserver.ConnInfo, bool) {
	t.Helper()
	cz, err := srv.Connz(&natsserver.ConnzOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}
