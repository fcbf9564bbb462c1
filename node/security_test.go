package node_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// An unauthenticated nats.go client on a node's NATS port watches the
// flood, but its publish of a well-formed flood message is refused by the
// server and no node stores the record; the same message from a node's
// own connection is stored, so the message itself was valid.
func TestHerd_observerCannotInject(t *testing.T) {
	h := startHerd(t, nodetest.DefaultTopology)
	errs := make(chan error, 16)
	obs, err := nats.Connect(h.Node("Welsh").NATS().ClientURL(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	sub, err := obs.SubscribeSync("herd.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	// Goloman floods to Hands, Holiday and Wilkes; Welsh's observer sees
	// those hops although none of them touches Welsh.
	// herd.> also carries anti-entropy requests (herd.sync.>): skip them.
	at := h.IAMAT("Goloman", "kiwi", "+34.068930-118.445127", "1621464827.959498503")
	m, err := sub.NextMsg(10 * time.Second)
	for err == nil && !strings.HasPrefix(m.Subject, bus.SubjectPrefix) {
		m, err = sub.NextMsg(10 * time.Second)
	}
	if err != nil || string(m.Data) != at {
		t.Fatalf("observer saw %v (err %v), want a flood of %q", m, err, at)
	}

	forge := func(client string) *nats.Msg {
		msg := nats.NewMsg(bus.Subject("Holiday"))
		msg.Header.Set(bus.HeaderOrigin, "Goloman")
		msg.Header.Set(bus.HeaderSender, "Goloman")
		msg.Data = []byte("AT Goloman +0.100000000 " + client + " +1+1 1621464827")
		return msg
	}
	if err := obs.PublishMsg(forge("forged")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("async error %v, want a permissions violation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no permissions violation reported for the forged publish")
	}

	node, err := h.Node("Welsh").NATS().Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if err := node.PublishMsg(forge("control")); err != nil {
		t.Fatal(err)
	}
	// The claimed origin, Goloman, is never sent its own record back.
	h.WaitRecord("control", "AT Goloman +0.100000000 control +1+1 1621464827", "Holiday", "Welsh", "Wilkes", "Hands")
	for _, name := range h.Live() {
		if r, ok := h.Node(name).Store().Get("forged"); ok {
			t.Errorf("%s stored the observer's forged record %q", name, r.Line)
		}
	}
}

// A node can listen on all interfaces (client and NATS ports), e.g. for
// clients on other hosts; it is reached on loopback too.
func TestNode_bindAllInterfaces(t *testing.T) {
	h := startHerd(t, map[string][]string{"Goloman": nil}, func(_ string, c *node.Config) {
		c.Client.Addr = "0.0.0.0:0"
		c.NATS.ClientAddr = "0.0.0.0:0"
	})
	n := h.Node("Goloman")
	host, _, err := net.SplitHostPort(n.ClientAddr())
	if err != nil || !net.ParseIP(host).IsUnspecified() {
		t.Fatalf("client address %s (%v), want the unspecified address", n.ClientAddr(), err)
	}
	h.IAMAT("Goloman", "c", "+1+1", "1621464827")
	nc, err := nats.Connect(n.NATS().ClientURL())
	if err != nil {
		t.Fatalf("observer on %s: %v", n.NATS().ClientURL(), err)
	}
	nc.Close()
}

// A flood message or an anti-entropy request whose Herd-Sender is not one
// of the receiving node's configured neighbors is refused — counted as
// not_neighbor, never stored nor relayed — even over a connection with
// full rights on the bus, a node's own (protocol.md §2). The same
// connection sending as a real neighbor is heard, so the refusal is about
// the sender.
func TestHerd_nonNeighborSenderRefused(t *testing.T) {
	h := startHerd(t, nodetest.DefaultTopology, monitorOn)
	nc, err := h.Node("Hands").NATS().Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg := func(subject, sender, data string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Header.Set(bus.HeaderOrigin, sender)
		m.Header.Set(bus.HeaderSender, sender)
		m.Data = []byte(data)
		return m
	}
	// Hands is not Holiday's neighbor.
	if err := nc.PublishMsg(msg(bus.Subject("Holiday"), "Hands", "AT Hands +0.100000000 forged-flood +1+1 1621464827")); err != nil {
		t.Fatal(err)
	}
	req := msg(antientropy.Subject("Holiday"), "Hands", fmt.Sprintf("%d\nAT Hands +0.100000000 forged-sync +1+1 1621464827", digest.Bucket("forged-sync")))
	req.Header.Set(antientropy.HeaderSync, "records")
	reply, err := nc.RequestMsg(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if op := reply.Header.Get(antientropy.HeaderSync); op != "refused" {
		t.Fatalf("sync request from a non-neighbor answered %q, want refused", op)
	}
	wait.For(t, "both refusals counted at Holiday", func() bool {
		return scrape(t, h.Node("Holiday")).Value("herd_flood_invalid_total", "node", "Holiday", "from", "other", "reason", "not_neighbor") == 2
	})
	if err := nc.PublishMsg(msg(bus.Subject("Holiday"), "Goloman", "AT Goloman +0.100000000 control +1+1 1621464827")); err != nil {
		t.Fatal(err)
	}
	h.WaitRecord("control", "AT Goloman +0.100000000 control +1+1 1621464827", "Holiday", "Welsh", "Wilkes", "Hands")
	for _, name := range h.Live() {
		for _, client := range []string{"forged-flood", "forged-sync"} {
			if r, ok := h.Node(name).Store().Get(client); ok {
				t.Errorf("%s stored %q from a non-neighbor", name, r.Line)
			}
		}
	}
}
