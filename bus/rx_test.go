package bus

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/bus/natswire"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// floodConn returns the server's connection named name, with its
// subscriptions, or false.
func floodConn(t *testing.T, ns *embeddednats.Server, name string) (*server.ConnInfo, bool) {
	t.Helper()
	cz, err := ns.NATS().Connz(&server.ConnzOptions{Subscriptions: true})
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

// herd.at.<self> is subscribed on the flood's own link ("<name>-flood"),
// and messages arrive on it.
func TestBus_receivesOnLink(t *testing.T) {
	ns := bustest.StartNATS(t)
	_, st, _ := startBus(t, ns, "B", []string{"A"}, nil)
	c, ok := floodConn(t, ns, "B-flood")
	if !ok || len(c.Subs) != 1 || c.Subs[0] != Subject("B") {
		t.Fatalf("flood link %v, subscriptions %v: want one on %s", ok, c, Subject("B"))
	}
	publishFlood(t, connect(t, ns), "B", "A", "A", "AT A +0.000000001 c1 +1+1 1")
	wait.For(t, "c1 stored", func() bool { return st.Line("c1") != "" })
}

// connect is a nats.go connection to ns, closed at the end of the test.
func connect(t *testing.T, ns *embeddednats.Server) *nats.Conn {
	t.Helper()
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publishFlood publishes one flood message to node to as the bus does.
func publishFlood(t *testing.T, nc *nats.Conn, to, origin, sender, data string) {
	t.Helper()
	m := nats.NewMsg(Subject(to))
	m.Header.Set(HeaderOrigin, origin)
	m.Header.Set(HeaderSender, sender)
	m.Header.Set(HeaderStamp, strconv.FormatInt(time.Now().UnixNano(), 10))
	m.Data = []byte(data)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
}

// When the server cuts the link (as it cuts a client that falls behind),
// the episode is counted once as DropDisconnected, the link is dialled
// again, and messages arrive on it again.
func TestBus_linkCutCountedAndRedialled(t *testing.T) {
	ns := bustest.StartNATS(t)
	_, st, obs := startBus(t, ns, "B", []string{"A"}, nil)
	c, _ := floodConn(t, ns, "B-flood")
	if obs.dropped.Load() != 0 {
		t.Fatalf("dropped %d before the cut", obs.dropped.Load())
	}
	if err := ns.NATS().DisconnectClientByID(c.Cid); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the cut counted", func() bool { return obs.drops[DropDisconnected].Load() == 1 })
	wait.For(t, "the link back", func() bool {
		c2, ok := floodConn(t, ns, "B-flood")
		return ok && c2.Cid != c.Cid && len(c2.Subs) == 1
	})
	publishFlood(t, connect(t, ns), "B", "A", "A", "AT A +0.000000001 after-cut +1+1 1")
	wait.For(t, "the flood received again", func() bool { return st.Line("after-cut") != "" })
	if got, disc := obs.dropped.Load(), obs.drops[DropDisconnected].Load(); got != 1 || disc != 1 {
		t.Fatalf("dropped %d, %d of them disconnected episodes, want 1", got, disc)
	}
}

// The link answers the server's PINGs: a server that pings every 20 ms
// and closes a client after 50 unanswered ones (a second of silence)
// keeps it through ten. Fewer allowed made the test stall on a loaded
// machine: when the server closes a link that is slow to answer
// (Stale Connection), its write loop waits up to its write deadline
// (10 s) to hand the link its last bytes, while the link, writing a PONG
// onto the in-process pipe, waits for the server's read loop, which has
// stopped; Start then failed after its own 10 s. A link that never
// answers is still closed within a second, and never counts ten PONGs.
func TestBus_linkAnswersPings(t *testing.T) {
	cfg := embeddednats.DefaultConfig()
	cfg.Name, cfg.Logger = "test", nil
	cfg.Options = func(o *server.Options) { o.PingInterval, o.MaxPingsOut = 20*time.Millisecond, 50 }
	ns, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	b, _, obs := startBus(t, ns, "B", []string{"A"}, nil)
	c, _ := floodConn(t, ns, "B-flood")
	wait.For(t, "ten PONGs", func() bool { return b.pongs.Load() >= 10 })
	c2, _ := floodConn(t, ns, "B-flood")
	if c2.Cid != c.Cid || obs.dropped.Load() != 0 {
		t.Fatalf("link %d then %d, dropped %d: the server closed it", c.Cid, c2.Cid, obs.dropped.Load())
	}
}

// A link the server refuses (a wrong credential) fails Start with the
// server's -ERR.
func TestBus_linkRefused(t *testing.T) {
	ns := bustest.StartNATS(t)
	cfg := DefaultConfig()
	cfg.Name = "B"
	cfg.Link = func() (Link, error) {
		c, cr, err := ns.DialInProcess()
		return Link{Conn: c, Nkey: cr.Nkey, Sign: func([]byte) ([]byte, error) { return make([]byte, 64), nil }}, err
	}
	b, err := New(cfg, bustest.NewStore())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(t.Context()); !errors.Is(err, ErrLinkRefused) {
		t.Fatalf("Start with a bad signature: %v, want ErrLinkRefused", err)
	}
}

func TestParseStamp(t *testing.T) {
	for _, s := range []string{"1", "0", "1796076363976129142", strconv.FormatInt(math.MaxInt64, 10), "9223372036854775808", "99999999999999999999", "", "-1", "+1", "1x", " 1"} {
		want, err := strconv.ParseInt(s, 10, 64)
		if err != nil || want < 0 || s[0] == '+' {
			want = 0
		}
		if got := parseStamp([]byte(s)); got != want {
			t.Errorf("parseStamp(%q) = %d, want %d", s, got, want)
		}
	}
}

// A flood message read off the link costs no allocation when its records
// are stale (each record reaches most nodes twice), nor when new ones are
// relayed but for the store's copy: no message, header map or strings.
func TestBus_receiveFrameAllocs(t *testing.T) {
	ns := bustest.StartNATS(t)
	b, st, _ := startBus(t, ns, "B", []string{"A", "C"}, nil)
	frame := []byte("HMSG herd.at.B 1 77 132\r\nNATS/1.0\r\nHerd-Origin: A\r\nHerd-Sender: A\r\nHerd-Stamp: 1796076363976129142\r\n\r\n" +
		"AT A +0.000000001 c1 +1+1 1\nAT A +0.000000001 c2 +1+1 2\r\n")
	f, _, err := natswire.Parse(frame)
	if err != nil {
		t.Fatal(err)
	}
	b.receiveFrame(f) // stores both, interns A
	if st.Line("c1") == "" || st.Line("c2") == "" {
		t.Fatal("records not stored")
	}
	if n := testing.AllocsPerRun(100, func() { b.receiveFrame(f) }); n != 0 {
		t.Fatalf("%v allocations per stale flood message, want 0", n)
	}
}

// The publisher writes its rounds on the link ("<name>-flood"), and a
// nats.go subscriber (an observer) sees each message with the flood's
// three headers.
func TestBus_publishesOnLink(t *testing.T) {
	ns := bustest.StartNATS(t)
	sub := connect(t, ns)
	msgs := make(chan *nats.Msg, 16)
	if _, err := sub.ChanSubscribe(Subject("B"), msgs); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _, obs := startBus(t, ns, "A", []string{"B"}, nil)
	b.Publish(bustest.MustRecord(t, "AT A +0.000000001 c1 +1+1 1"))
	var m *nats.Msg
	select {
	case m = <-msgs:
	case <-time.After(10 * time.Second):
		t.Fatal("no flood message")
	}
	if got := m.Header.Get(HeaderOrigin) + " " + m.Header.Get(HeaderSender); got != "A A" || len(m.Header) != 3 {
		t.Errorf("headers %v", m.Header)
	}
	if stamp, err := strconv.ParseInt(m.Header.Get(HeaderStamp), 10, 64); err != nil || stamp <= 0 {
		t.Errorf("Herd-Stamp %q", m.Header.Get(HeaderStamp))
	}
	if string(m.Data) != "AT A +0.000000001 c1 +1+1 1" {
		t.Errorf("data %q", m.Data)
	}
	// The server counts a client's messages after it delivered them.
	wait.For(t, "the message counted from the link", func() bool {
		c, ok := floodConn(t, ns, "A-flood")
		return ok && c.InMsgs == 1
	})
	wait.For(t, "published counted", func() bool { return obs.published.Load() == 1 })
}

// A round the link cannot take (it is closed) is dropped and counted as
// publish_failed, by message's records, and nothing is counted published.
func TestBus_publishFailedCounted(t *testing.T) {
	ns := bustest.StartNATS(t)
	b, _, obs := startBus(t, ns, "A", []string{"B", "C"}, nil)
	if err := b.Close(); err != nil { // the link closed, the publisher stopped
		t.Fatal(err)
	}
	r := bustest.MustRecord(t, "AT A +0.000000001 c1 +1+1 1")
	records, messages := b.publishBatch([]outbound{{rec: r, origin: "A"}}, map[groupKey]*group{})
	if records != 2 || messages != 2 {
		t.Fatalf("encoded %d records in %d messages, want 2 in 2 (B, C)", records, messages)
	}
	if got := obs.drops[DropPublishFailed].Load(); got != 2 || obs.published.Load() != 0 {
		t.Fatalf("publish_failed %d records, published %d messages: want 2, 0", got, obs.published.Load())
	}
}
