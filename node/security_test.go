package node

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
)

// An unauthenticated nats.go client on a node's NATS port watches the
// flood, but its publish of a well-formed flood message is refused by the
// server and no node stores the record; the same message from a node's
// own connection is stored, so the message itself was valid.
func TestHerd_observerCannotInject(t *testing.T) {
	h := startHerd(t, defaultTopology)
	errs := make(chan error, 16)
	obs, err := nats.Connect(h.nodes["Welsh"].NATS().ClientURL(),
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
	at := h.iamat("Goloman", "kiwi", "+34.068930-118.445127", "1621464827.959498503")
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

	node, err := h.nodes["Welsh"].NATS().Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if err := node.PublishMsg(forge("control")); err != nil {
		t.Fatal(err)
	}
	// The claimed origin, Goloman, is never sent its own record back.
	h.waitRecord("control", "AT Goloman +0.100000000 control +1+1 1621464827", "Holiday", "Welsh", "Wilkes", "Hands")
	for _, name := range h.live() {
		if r, ok := h.nodes[name].Store().Get("forged"); ok {
			t.Errorf("%s stored the observer's forged record %q", name, r.Line)
		}
	}
}

// A node can listen on all interfaces (client and NATS ports), e.g. for
// clients on other hosts; it is reached on loopback too.
func TestNode_bindAllInterfaces(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name = "Goloman"
	cfg.Places = zeroPlaces{}
	cfg.Client.Addr = "0.0.0.0:0"
	cfg.NATS.ClientAddr = "0.0.0.0:0"
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(n.ClientAddr())
	if err != nil || !net.ParseIP(host).IsUnspecified() {
		t.Fatalf("client address %s (%v), want the unspecified address", n.ClientAddr(), err)
	}
	h := &testHerd{t: t, nodes: map[string]*Node{"Goloman": n}}
	h.iamat("Goloman", "c", "+1+1", "1621464827")
	nc, err := nats.Connect(n.NATS().ClientURL())
	if err != nil {
		t.Fatalf("observer on %s: %v", n.NATS().ClientURL(), err)
	}
	nc.Close()
}
