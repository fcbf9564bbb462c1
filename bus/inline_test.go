package bus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// watchLines subscribes to node's flood subject on ns and returns what it has
// seen so far, one AT line per entry, in arrival order.
func watchLines(t *testing.T, nc *nats.Conn, node string) func() []string {
	t.Helper()
	var (
		mu  sync.Mutex // guards got
		got []string
	)
	if _, err := nc.Subscribe(Subject(node), func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, strings.Split(string(m.Data), "\n")...)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// version is record i of client c, originated by A: later i, newer.
func version(c string, i int) record.Record {
	return record.Build("A", 1, []byte(c), []byte("+1+1"), fmt.Appendf(nil, "1621464827.%09d", i))
}

// An idle publisher's round is written by the caller: the origin's own
// record by Publish's caller, a relay by the link's reader that stored it
// (B relays A's record to C). Neither wakes publishLoop. (With the inline
// path switched off, every round is publishLoop's.)
func TestBus_PublishInline(t *testing.T) {
	ns := bustest.StartNATS(t)
	_, stC, _ := startBus(t, ns, "C", []string{"B"}, nil)
	b, _, obsB := startBus(t, ns, "B", []string{"A", "C"}, nil)
	a, _, obsA := startBus(t, ns, "A", []string{"B"}, nil)
	a.Publish(version("c1", 1))
	wait.For(t, "c1 relayed by B to C", func() bool { return stC.Line("c1") != "" })
	wait.For(t, "both rounds counted", func() bool { return obsA.published.Load() == 1 && obsB.relayed.Load() == 1 })
	for name, bus := range map[string]*Bus{"A": a, "B": b} {
		if inline, loop := bus.Rounds(); inline != 1 || loop != 0 {
			t.Errorf("%s: %d rounds inline, %d by publishLoop; want 1, 0", name, inline, loop)
		}
	}
}

// A record never overtakes one published before it: one client's
// versions, published back to back in bursts (the first of a burst
// inline, the rest queued while the window runs), arrive in order, and
// both kinds of round were written.
func TestBus_PublishInlineOrder(t *testing.T) {
	ns := bustest.StartNATS(t)
	seen := watchLines(t, connect(t, ns), "B")
	const linger = 200 * time.Microsecond
	a, _, obs := startBus(t, ns, "A", []string{"B"}, func(c *Config) { c.Linger = linger })
	const bursts, per = 20, 25
	for i := range bursts * per {
		a.Publish(version("c", i))
		if i%per == per-1 {
			// Idle again: nothing queued, and the window (at most
			// Linger) passed since the last round.
			wait.For(t, "the queue drained", func() bool { return a.queued.Load() == 0 })
			time.Sleep(linger)
		}
	}
	wait.For(t, "every version seen", func() bool { return len(seen()) == bursts*per })
	for i, line := range seen() {
		if want := version("c", i).Line; line != want {
			t.Fatalf("line %d: %q, want %q (out of order)", i, line, want)
		}
	}
	inline, loop := a.Rounds()
	if inline < bursts || loop == 0 {
		t.Errorf("%d rounds inline, %d by publishLoop: want at least %d inline (a burst's first) and some by the loop", inline, loop, bursts)
	}
	if obs.dropped.Load() != 0 {
		t.Errorf("dropped %d", obs.dropped.Load())
	}
}

// stallRelay sits between the bus and its link to the server: a real
// pipe on the bus's side, whose reading the test can stop (a server that
// does not read the link).
type stallRelay struct {
	stalled atomic.Bool
	parked  chan struct{} // the relay stopped reading
	resume  chan struct{}
}

func (s *stallRelay) link(dial func() (Link, error)) func() (Link, error) {
	return func() (Link, error) {
		l, err := dial()
		if err != nil {
			return l, err
		}
		busEnd, relayEnd := net.Pipe()
		server := l.Conn
		go func() { // server → bus
			io.Copy(relayEnd, server)
			relayEnd.Close()
		}()
		go func() { // bus → server, unless stalled
			defer server.Close()
			buf := make([]byte, 64<<10)
			for {
				if s.stalled.Load() {
					s.parked <- struct{}{}
					<-s.resume
				}
				relayEnd.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
				n, err := relayEnd.Read(buf)
				if n > 0 {
					if _, err := server.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
		}()
		l.Conn = busEnd
		return l, nil
	}
}

// A client's Publish never blocks on a link that does not take what is
// written: the inline round gives up after its bound and leaves the rest
// to publishLoop (which waits), later records queue or are dropped and
// counted, and once the link reads again everything not dropped arrives,
// in order, counted as published.
func TestBus_PublishInlineStalledLink(t *testing.T) {
	ns := bustest.StartNATS(t)
	seen := watchLines(t, connect(t, ns), "B")
	relay := &stallRelay{parked: make(chan struct{}), resume: make(chan struct{})}
	a, _, obs := startBus(t, ns, "A", []string{"B"}, func(c *Config) {
		c.Linger, c.QueueLen = 0, 4 // Linger 0: an idle publisher always writes inline
		c.Link = relay.link(linkTo(ns))
	})
	a.Publish(version("c", 0))
	wait.For(t, "version 0 through the link", func() bool { return len(seen()) == 1 })

	relay.stalled.Store(true)
	<-relay.parked
	const n = 12
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			a.Publish(version("c", i))
		}
	}()
	wait.For(t, "every Publish returned with the link stalled", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if got := seen(); len(got) != 1 {
		t.Fatalf("%d lines through a stalled link", len(got))
	}
	if inline, _ := a.Rounds(); inline != 2 {
		t.Errorf("%d rounds inline, want 2: version 0, then version 1 given up after its bound", inline)
	}
	dropped := obs.drops[DropQueueFull].Load()
	if dropped == 0 {
		t.Errorf("nothing dropped for a full queue behind a stalled link")
	}
	if obs.published.Load() != 1 {
		t.Errorf("%d messages counted published with the link stalled, want 1", obs.published.Load())
	}

	relay.stalled.Store(false)
	relay.resume <- struct{}{}
	want := 1 + n - int(dropped)
	wait.For(t, "the rest through the link", func() bool { return len(seen()) == want })
	prev := -1
	for _, line := range seen() {
		r := bustest.MustRecord(t, line)
		var i int
		fmt.Sscanf(r.Time(), "1621464827.%09d", &i)
		if i <= prev {
			t.Fatalf("version %d after %d: out of order (%q)", i, prev, seen())
		}
		prev = i
	}
	if seen()[1] != version("c", 1).Line {
		t.Errorf("second line %q, want version 1 (the inline round's carry)", seen()[1])
	}
	wait.For(t, "the carry counted published", func() bool { return obs.published.Load() >= 2 })
	if obs.drops[DropPublishFailed].Load() != 0 {
		t.Errorf("publish_failed %d", obs.drops[DropPublishFailed].Load())
	}
}
