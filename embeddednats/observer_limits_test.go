package embeddednats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// limitedConfig is a server whose observers get the smallest limits.
func limitedConfig(t *testing.T, name string) Config {
	t.Helper()
	cfg := testConfig(t, name)
	cfg.ObserverLimits = ObserverLimits{
		Subscriptions: MinObserverSubscriptions,
		Connections:   2,
		PendingBytes:  MinObserverPendingBytes,
		Payload:       MinObserverPayload,
	}
	return cfg
}

// 50,000 subscriptions on one connection: the server keeps the first
// Subscriptions of them, answers each further one with an error and keeps
// the connection, and reports the refusal in LimitHits.
func TestServer_observerSubscriptionLimit(t *testing.T) {
	cfg := limitedConfig(t, "A")
	s := startServer(t, cfg)
	raw := dialRaw(t, s.ClientURL(), "hoarder", 0)
	const attempts = 50_000
	var b strings.Builder
	for i := range attempts {
		fmt.Fprintf(&b, "SUB herd.zz.%d %d\r\n", i, i+1)
	}
	b.WriteString("PING\r\n")
	go raw.conn.Write([]byte(b.String())) // the server answers while it reads
	refused := 0
	for _, l := range raw.untilPong() {
		if l != "-ERR 'maximum subscriptions exceeded'" {
			t.Fatalf("unexpected answer %q", l)
		}
		refused++
	}
	if want := attempts - cfg.ObserverLimits.Subscriptions; refused != want {
		t.Errorf("%d subscriptions refused, want %d", refused, want)
	}
	c := connByName(t, s, "hoarder")
	if c == nil || int(c.NumSubs) != cfg.ObserverLimits.Subscriptions {
		t.Fatalf("hoarder's connection %+v, want open with %d subscriptions", c, cfg.ObserverLimits.Subscriptions)
	}
	if h := s.LimitHits(); h.Subscriptions == 0 {
		t.Errorf("LimitHits %+v, want subscription refusals reported", h)
	}
}

// The connection limit: Connections plus what the node leaves of the
// in-process reserve (it holds one connection here); the next connection
// is refused with an error.
func TestServer_observerConnectionLimit(t *testing.T) {
	cfg := limitedConfig(t, "A")
	s, _ := startWithNode(t, cfg)
	want := cfg.ObserverLimits.Connections + InProcessReserve - 1
	for i := range want {
		dialRaw(t, s.ClientURL(), fmt.Sprint("obs", i), 0)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(s.ClientURL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	refused := &rawClient{t: t, conn: c, br: bufio.NewReader(c)}
	if l, err := refused.readLine(); l != "-ERR 'maximum connections exceeded'" {
		t.Fatalf("connection %d: %q %v, want maximum connections exceeded", want+1, l, err)
	}
	waitFor(t, "the refusal to be counted", func() bool { return s.LimitHits().Connections > 0 })
}

// A message larger than Payload closes the connection with an error; the
// node's own messages up to MinObserverPayload still go through.
func TestServer_observerPayloadLimit(t *testing.T) {
	cfg := limitedConfig(t, "A")
	s, node := startWithNode(t, cfg)
	sub, err := node.SubscribeSync("herd.iamat")
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Flush(); err != nil {
		t.Fatal(err)
	}
	raw := dialRaw(t, s.ClientURL(), "big", 0)
	raw.send(fmt.Sprintf("PUB herd.iamat %d\r\n", cfg.ObserverLimits.Payload+1))
	if l := raw.line(); l != "-ERR 'Maximum Payload Violation'" {
		t.Fatalf("oversized publish answered %q", l)
	}
	if _, err := raw.readLine(); err == nil {
		t.Fatal("connection still open after the oversized publish")
	}
	if _, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Error("the oversized request was delivered")
	}
	obs, _ := observerConn(t, s)
	if err := obs.Publish("herd.iamat", make([]byte, cfg.ObserverLimits.Payload+1)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Errorf("nats.go publish over the limit: %v, want ErrMaxPayload", err)
	}
	if err := node.Publish("herd.at.A", make([]byte, 64<<10)); err != nil {
		t.Errorf("node's 64 KiB message: %v", err)
	}
	waitFor(t, "the violation to be counted", func() bool { return s.LimitHits().Payload == 1 })
}

// An observer that subscribes to the whole bus and never reads is cut as
// a slow consumer once the server has queued PendingBytes for it, not
// later, and LimitHits counts it.
func TestServer_observerSlowConsumer(t *testing.T) {
	cfg := limitedConfig(t, "A")
	s, node := startWithNode(t, cfg)
	raw := dialRaw(t, s.ClientURL(), "sleeper", 4096)
	raw.send("SUB herd.> 1\r\nPING\r\n")
	if l := raw.line(); l != "PONG" {
		t.Fatalf("SUB answered %q", l)
	}
	msg := make([]byte, 32<<10)
	maxPending := 0
	// nats-server counts the slow consumer when it stops queueing for it;
	// the connection leaves Connz only once its blocked write returns.
	for i := 0; s.LimitHits().SlowConsumers == 0; i++ {
		if i == 4096 { // 128 MiB: far more than socket buffers and PendingBytes
			t.Fatalf("sleeper not cut after %d MiB, max pending %d", i*len(msg)>>20, maxPending)
		}
		if err := node.Publish("herd.at.A", msg); err != nil {
			t.Fatal(err)
		}
		if err := node.Flush(); err != nil {
			t.Fatal(err)
		}
		if c := connByName(t, s, "sleeper"); c != nil {
			maxPending = max(maxPending, c.Pending)
		}
	}
	if maxPending > int(cfg.ObserverLimits.PendingBytes) {
		t.Errorf("server queued %d bytes for the sleeper, limit %d", maxPending, cfg.ObserverLimits.PendingBytes)
	}
	// The sleeper wakes up: what the kernel buffered, then the end.
	raw.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.Copy(io.Discard, raw.conn); err != nil {
		t.Fatalf("sleeper's connection: %v, want closed by the server", err)
	}
	waitFor(t, "the sleeper's connection to be closed", func() bool { return closedReason(t, s, "sleeper") != "" })
	if r := closedReason(t, s, "sleeper"); r != server.SlowConsumerPendingBytes.String() {
		t.Errorf("sleeper closed for %q, want %q", r, server.SlowConsumerPendingBytes)
	}
	t.Logf("sleeper cut with at most %d bytes queued (limit %d); %+v", maxPending, cfg.ObserverLimits.PendingBytes, s.LimitHits())
}

// Routes carry every observer's interest whatever the client limits: the
// interest of three observers on B, 300 subscriptions in all (three times
// the per-connection limit), reaches A.
func TestServer_observerLimitsSpareRoutes(t *testing.T) {
	a, b, _ := startChain(t, func(c *Config) { c.ObserverLimits = limitedConfig(t, c.Name).ObserverLimits })
	node, err := a.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	n := MinObserverSubscriptions
	var last *nats.Subscription
	for o := range 3 {
		obs, _ := observerConn(t, b)
		for i := range n {
			sub, err := obs.SubscribeSync(fmt.Sprintf("herd.at.o%d.%d", o, i))
			if err != nil {
				t.Fatal(err)
			}
			last = sub
		}
		if err := obs.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	subject := fmt.Sprintf("herd.at.o2.%d", n-1)
	if err := a.WaitInterest(testContext(t), subject); err != nil {
		t.Fatal(err)
	}
	if err := node.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if m, err := last.NextMsg(waitTimeout); err != nil || string(m.Data) != "x" {
		t.Fatalf("last subscription got %v %v", m, err)
	}
}
