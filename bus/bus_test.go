package bus

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counts is an Observer for tests.
type counts struct {
	published, relayed, received, stale, dropped atomic.Int64
	drops                                        [NumDrops]atomic.Int64
	refused                                      [NumRefusals]atomic.Int64
}

var _ Observer = (*counts)(nil)

func (c *counts) Published(string, int)   { c.published.Add(1) }
func (c *counts) Relayed(_ string, n int) { c.relayed.Add(int64(n)) }
func (c *counts) Latency(time.Duration)   {}
func (c *counts) Dropped(n int, why Drop) {
	c.dropped.Add(int64(n))
	c.drops[why].Add(int64(n))
}
func (c *counts) Refused(_ string, why Refusal) { c.refused[why].Add(1) }
func (c *counts) Received(_ string, newer bool) {
	if newer {
		c.received.Add(1)
	} else {
		c.stale.Add(1)
	}
}

// refusedTotal is every refusal counted, whatever the reason.
func (c *counts) refusedTotal() int64 {
	var n int64
	for i := range c.refused {
		n += c.refused[i].Load()
	}
	return n
}

func startBus(t testing.TB, ns *embeddednats.Server, name string, neighbors []string, mod func(*Config)) (*Bus, *bustest.Store, *counts) {
	t.Helper()
	st, obs := bustest.NewStore(), &counts{}
	return startBusOn(t, ns, name, neighbors, st, obs, mod), st, obs
}

// startBusOn starts a bus on st with its link to ns, told of its events
// by obs (nil: nobody), and closes it at the end of the test.
func startBusOn(t testing.TB, ns *embeddednats.Server, name string, neighbors []string, st Store, obs Observer, mod func(*Config)) *Bus {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name, cfg.Neighbors, cfg.Observe = name, neighbors, obs
	cfg.Link = linkTo(ns)
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// linkTo dials the flood's link to ns, as the node does.
func linkTo(ns *embeddednats.Server) func() (Link, error) {
	return func() (Link, error) {
		c, cr, err := ns.DialInProcess()
		return Link{Conn: c, Nkey: cr.Nkey, Sign: cr.Sign}, err
	}
}

// A coalesced message carries every line; invalid messages and lines, and
// messages from a node that is not a neighbor, are counted by reason and
// change nothing.
func TestBus_Receive(t *testing.T) {
	ns := bustest.StartNATS(t)
	_, st, obs := startBus(t, ns, "B", []string{"A"}, nil)
	pub, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	send := func(origin, sender, data string) {
		m := nats.NewMsg(Subject("B"))
		if origin != "" {
			m.Header.Set(HeaderOrigin, origin)
		}
		if sender != "" {
			m.Header.Set(HeaderSender, sender)
		}
		m.Data = []byte(data)
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	send("A", "A", "AT A +0.000000001 c1 +1+1 1\nAT A +0.000000001 c2 +1+1 2\n\nAT A +0.000000001 c3 +1+1 3")
	send("", "A", "AT A +0.000000001 c4 +1+1 1")                            // no origin header
	send("A", "A", "AT Z +0.000000001 c5 +1+1 1")                           // origin mismatch
	send("A", "A", "AT A +0.000000001 c6 +91+1 1\nIAMAT x +1+1 1\ngarbage") // bad lines
	send("A", "A", "AT A +0.000000001 c1 +1+1 1")                           // stale (equal)
	send("Z", "Z", "AT Z +0.000000001 c7 +1+1 1")                           // Z is not a neighbor
	wait.For(t, "all messages handled", func() bool {
		return obs.received.Load() == 3 && obs.refusedTotal() == 6 && obs.stale.Load() == 1
	})
	for why, want := range map[Refusal]int64{RefusedBadHeaders: 1, RefusedBadRecord: 4, RefusedNotNeighbor: 1} {
		if got := obs.refused[why].Load(); got != want {
			t.Errorf("refused %s: %d, want %d", why, got, want)
		}
	}
	for _, c := range []string{"c1", "c2", "c3"} {
		if st.Line(c) == "" {
			t.Errorf("%s not stored", c)
		}
	}
	for _, c := range []string{"c4", "c5", "c6", "c7"} {
		if st.Line(c) != "" {
			t.Errorf("%s stored from an invalid message", c)
		}
	}
}

// Records ready together are coalesced into one message per neighbor and
// origin, split at MaxPayload.
func TestBus_Coalesce(t *testing.T) {
	ns := bustest.StartNATS(t)
	b, _, obs := startBus(t, ns, "A", []string{"B"}, func(c *Config) { c.MaxPayload = 1024 })
	sub, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var lines, msgs atomic.Int64
	if _, err := sub.Subscribe(Subject("B"), func(m *nats.Msg) {
		msgs.Add(1)
		lines.Add(int64(strings.Count(string(m.Data), "\n") + 1))
		if len(m.Data) > 1024 {
			t.Errorf("payload %d bytes over MaxPayload", len(m.Data))
		}
	}); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	const n = 2000
	for i := range n {
		b.Publish(record.Build("A", int64(i), []byte("client"+strings.Repeat("x", i%7)), []byte("+1+1"), []byte("1")))
	}
	wait.For(t, "all records published", func() bool { return lines.Load() == n })
	// The bus counts a round's messages after writing them, so the
	// subscriber may see a message before the observer counts it.
	wait.For(t, "the observer counting every message seen", func() bool { return obs.published.Load() >= msgs.Load() })
	if msgs.Load() >= n {
		t.Fatalf("%d messages for %d records: nothing coalesced", msgs.Load(), n)
	}
	if obs.published.Load() != msgs.Load() {
		t.Fatalf("observer counted %d messages, subscriber saw %d", obs.published.Load(), msgs.Load())
	}
	t.Logf("%d records in %d messages", n, msgs.Load())
}

// Publish never blocks: when the queue is full, records are dropped and
// counted.
func TestBus_PublishNeverBlocks(t *testing.T) {
	obs, dials := &counts{}, 0
	cfg := DefaultConfig()
	cfg.Name, cfg.Neighbors, cfg.Observe, cfg.QueueLen = "A", []string{"B"}, obs, 4
	cfg.Link = func() (Link, error) { dials++; return Link{}, errors.New("not dialled in this test") }
	b, err := New(cfg, bustest.NewStore()) // not started: nothing drains the queue
	if err != nil {
		t.Fatal(err)
	}
	r := bustest.MustRecord(t, "AT A +0.000000001 c +1+1 1")
	for range 10 {
		b.Publish(r)
	}
	if obs.dropped.Load() != 6 || obs.drops[DropQueueFull].Load() != 6 {
		t.Fatalf("dropped %d, %d of them queue_full, want 6", obs.dropped.Load(), obs.drops[DropQueueFull].Load())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if dials != 0 {
		t.Fatalf("the link dialled %d times by New, Close and Start after Close", dials)
	}
}

// New does no I/O; Start dials the link once and returns with the flood
// subject subscribed at the server; Close (twice) leaves no goroutine of
// the bus, nor of the server's end of the link, behind.
func TestBus_Lifecycle(t *testing.T) {
	ns := bustest.StartNATS(t)
	before := goleak.IgnoreCurrent()
	dials := 0
	cfg := DefaultConfig()
	cfg.Name, cfg.Neighbors = "B", []string{"A"}
	link := linkTo(ns)
	cfg.Link = func() (Link, error) { dials++; return link() }
	b, err := New(cfg, bustest.NewStore())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := floodConn(t, ns, "B-flood"); ok || dials != 0 {
		t.Fatalf("New dialled %d times, link at the server: %v", dials, ok)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// No polling: Start returned once the server had the subscription.
	if c, ok := floodConn(t, ns, "B-flood"); !ok || dials != 1 || len(c.Subs) != 1 || c.Subs[0] != Subject("B") {
		t.Fatalf("after Start: %d dials, link %v (%v): want one subscription on %s", dials, ok, c, Subject("B"))
	}
	if n := busGoroutines(); n != 2 {
		t.Fatalf("%d goroutines of the bus running, want 2 (rxLoop, publishLoop)", n)
	}
	for i := range 2 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
		// At once, not polled: Close waited for them. One that has called
		// wg.Done may still be on its way out of the stack dump.
		if n := busWorking(); n != 0 {
			t.Fatalf("%d goroutines of the bus still at work after Close #%d", n, i+1)
		}
	}
	wait.For(t, "the bus's goroutines gone", func() bool { return busGoroutines() == 0 })
	goleak.VerifyNone(t, before)
	wait.For(t, "the link gone from the server", func() bool { _, ok := floodConn(t, ns, "B-flood"); return !ok })
}

// busGoroutines counts the goroutines running a Bus method at their root.
func busGoroutines() int { return len(busStacks()) }

// busWorking counts the goroutines of the bus that have not yet told Close
// they are done. One that has (it is inside wg.Done, or back in its own
// frame after it, preempted before it could return) is still in the dump
// for a moment after Close returns: counting it made the test flaky under
// load (1 in a suite run at nice 19), without Close having failed to wait.
func busWorking() int {
	n := 0
	for _, g := range busStacks() {
		lines := bytes.SplitN(g, []byte("\n"), 3)
		leaving := len(lines) > 1 && bytes.HasPrefix(lines[1], []byte("github.com/herdhq/herd/bus.(*Bus)."))
		if !leaving && !bytes.Contains(g, []byte("sync.(*WaitGroup).Done(")) {
			n++
		}
	}
	return n
}

// busStacks returns the stacks of the goroutines running a Bus method at
// their root.
func busStacks() [][]byte {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var gs [][]byte
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("created by github.com/herdhq/herd/bus.(*Bus).")) {
			gs = append(gs, g)
		}
	}
	return gs
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = "a.b" }},
		{"QueueLen", func(c *Config) { c.QueueLen = 0 }},
		{"MaxPayload", func(c *Config) { c.MaxPayload = 10 }},
		{"Linger", func(c *Config) { c.Linger = -time.Millisecond }},
		{"Linger", func(c *Config) { c.Linger = 2 * time.Second }},
		{"Link", func(c *Config) { c.Link = nil }},
		{"Neighbors[1]", func(c *Config) { c.Neighbors = []string{"B", "A"} }},
		{"Neighbors[1]", func(c *Config) { c.Neighbors = []string{"B", "B"} }},
		{"Neighbors[0]", func(c *Config) { c.Neighbors = []string{"*"} }},
	}
	noLink := func() (Link, error) { return Link{}, errors.New("not dialled in this test") }
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Name, cfg.Neighbors, cfg.Link = "A", []string{"B"}, noLink
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfg.Linger = time.Millisecond // in range
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		tt.mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.field, err)
		}
		if _, err := New(cfg, bustest.NewStore()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New with a bad %s: %v", tt.field, err)
		}
	}
	// A nil store is a wiring error, refused by New.
	cfg := DefaultConfig()
	cfg.Name, cfg.Link = "A", noLink
	if _, err := New(cfg, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New without store: %v", err)
	}
}
