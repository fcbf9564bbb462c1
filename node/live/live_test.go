package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/herdhq/herd/node/live"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeRoutes struct{}

func (fakeRoutes) Peers() []string         { return nil }
func (fakeRoutes) HasInterest(string) bool { return false }

func TestConfig_Validate(t *testing.T) {
	valid := func() live.Config {
		c := live.DefaultConfig()
		c.Name, c.Nodes, c.Edges = "A", []string{"A", "B"}, [][2]string{{"A", "B"}}
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if _, err := live.New(valid(), nil, nil); !errors.Is(err, live.ErrInvalidConfig) {
		t.Errorf("New without conn and routes: %v", err)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*live.Config)
		field  string
	}{
		{"bad name", func(c *live.Config) { c.Name = "a.b" }, "Name"},
		{"name not in nodes", func(c *live.Config) { c.Nodes = []string{"B"}; c.Edges = nil }, "Nodes"},
		{"zero beat", func(c *live.Config) { c.Beat = 0 }, "Beat"},
		{"down before beat", func(c *live.Config) { c.DownAfter = c.Beat }, "DownAfter"},
		{"zero tick", func(c *live.Config) { c.Tick = 0 }, "Tick"},
		{"zero buffer", func(c *live.Config) { c.ViewerBuffer = 0 }, "ViewerBuffer"},
		{"zero viewers", func(c *live.Config) { c.MaxViewers = 0 }, "MaxViewers"},
		{"negative samples", func(c *live.Config) { c.Samples = -1 }, "Samples"},
		{"zero tap pending", func(c *live.Config) { c.TapPending = 0 }, "TapPending"},
		{"bad node", func(c *live.Config) { c.Nodes = append(c.Nodes, "x y") }, "Nodes[2]"},
		{"node twice", func(c *live.Config) { c.Nodes = append(c.Nodes, "B") }, "Nodes[2]"},
		{"edge to unknown", func(c *live.Config) { c.Edges = append(c.Edges, [2]string{"A", "C"}) }, "Edges[1]"},
		{"self edge", func(c *live.Config) { c.Edges = [][2]string{{"A", "A"}} }, "Edges[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, live.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate = %v, want it to name %s", err, tt.field)
			}
			if _, err := live.New(c, &nats.Conn{}, fakeRoutes{}); !errors.Is(err, live.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestLive_Handler follows one browser's stream through a whole story:
// the herd shows up, an IAMAT floods (hop and client location), a node
// goes away (down at once, by its goodbye) and the stream ends cleanly.
func TestLive_Handler(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}})
	a := h.Node("A")
	if a.Live().Viewers() != 0 || a.NATS().HasInterest(live.BeatSubject("A")) {
		t.Fatal("someone listens before any browser connected")
	}
	s := nodetest.OpenStream(t, a.MonitorURL())
	name, data := s.Next()
	var hello live.Hello
	if err := json.Unmarshal(data, &hello); name != "hello" || err != nil {
		t.Fatalf("first event %s %s: %v", name, data, err)
	}
	if hello.Self != "A" || !slices.Equal(hello.Nodes, []string{"A", "B", "C"}) || len(hello.Edges) != 2 {
		t.Errorf("hello = %+v", hello)
	}
	if a.Live().Viewers() != 1 {
		t.Errorf("Viewers = %d, want 1", a.Live().Viewers())
	}
	s.FrameUntil("every node and route up", 5*time.Second, nodetest.AllUp)

	// An IAMAT at C floods C→B→A: both hops and the location show up.
	iamat(h, "C", "kiwi.cs.ucla.edu", 34.068930, -118.445127)
	var hops []live.Hop
	var client *live.Client
	s.FrameUntil("hops C→B and B→A and the client", 5*time.Second, func(f live.Frame) bool {
		hops = append(hops, f.Hops...)
		for _, c := range f.Clients {
			client = &c
		}
		has := func(from, to string) bool {
			return slices.ContainsFunc(hops, func(h live.Hop) bool {
				return h.From == from && h.To == to && h.Origin == "C" && h.Records >= 1
			})
		}
		return has("C", "B") && has("B", "A") && client != nil
	})
	if client.Client != "kiwi.cs.ucla.edu" || client.Origin != "C" || client.Lat != 34.068930 || client.Lon != -118.445127 {
		t.Errorf("client = %+v", *client)
	}
	// Each node's stats come with its own heartbeat: wait for C's too,
	// then check it counted exactly one.
	f := s.FrameUntil("B's flood counters and C's IAMAT", 5*time.Second, func(f live.Frame) bool {
		return nodetest.NodeState(f, "B").Stats.FloodIn >= 1 && nodetest.NodeState(f, "A").Stats.Records == 1 &&
			nodetest.NodeState(f, "C").Stats.IAMAT >= 1
	})
	if st := nodetest.NodeState(f, "C").Stats; st.IAMAT != 1 || st.Records != 1 {
		t.Errorf("C's stats = %+v, want 1 IAMAT and 1 record", st)
	}

	// C stops: its goodbye draws it down, not its silence (DownAfter) nor
	// the routes closing; the frame that draws it down has the event that
	// says so. How long it took is a figure: a loaded machine delays it.
	stopped := time.Now()
	h.Stop("C")
	f = s.FrameUntil("C down", 5*time.Second, func(f live.Frame) bool { return nodetest.NodeState(f, "C").State == live.StateDown })
	t.Logf("C drawn down %v after it stopped", time.Since(stopped).Round(time.Millisecond))
	if want := (live.Event{Kind: live.EventDown, Node: "C", Why: live.WhyStopped}); !slices.Contains(f.Events, want) {
		t.Errorf("events of the frame that drew C down: %+v, want %+v", f.Events, want)
	}
	if got := nodetest.EdgeState(f, "B", "C"); got == live.StateUp {
		t.Errorf("edge B–C is %s with C down", got)
	}
	s.FrameUntil("edge B–C down", 5*time.Second, func(f live.Frame) bool {
		return nodetest.EdgeState(f, "B", "C") == live.StateDown
	})

	// The browser leaves: the view stops listening, and so do the taps.
	s.Close()
	wait.Within(t, 5*time.Second, "no viewers", func() bool { return a.Live().Viewers() == 0 })
	wait.Within(t, 5*time.Second, "no interest in live subjects", func() bool {
		return !a.NATS().HasInterest(live.BeatSubject("B")) && !a.NATS().HasInterest(live.FloodSubject("A"))
	})
}

// TestLive_silentNode: a node that dies without a goodbye is drawn down
// within a second: the others' heartbeats stop listing a route to it.
func TestLive_silentNode(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}})
	s := nodetest.OpenStream(t, h.Node("A").MonitorURL())
	s.FrameUntil("every node and route up", 5*time.Second, nodetest.AllUp)
	stopped := time.Now()
	// B's NATS server dies under it, with every in-process connection:
	// no goodbye, the heartbeats just stop.
	if err := h.Node("B").NATS().Close(); err != nil {
		t.Fatal(err)
	}
	f := s.FrameUntil("B down", 5*time.Second, func(f live.Frame) bool { return nodetest.NodeState(f, "B").State == live.StateDown })
	if d := time.Since(stopped); d >= time.Second {
		t.Errorf("B drawn down %v after it died, want within a second", d)
	}
	// Its routes closed, or its heartbeats stopped: never a goodbye.
	if !slices.ContainsFunc(f.Events, func(e live.Event) bool {
		return e.Kind == live.EventDown && e.Node == "B" && (e.Why == live.WhyNoRoute || e.Why == live.WhySilent)
	}) {
		t.Errorf("events of the frame that drew B down: %+v, want B down for no route or silence", f.Events)
	}
	t.Logf("B drawn down %v after it died", time.Since(stopped).Round(time.Millisecond))
	for _, e := range [][2]string{{"A", "B"}, {"B", "C"}} {
		if got := nodetest.EdgeState(f, e[0], e[1]); got == live.StateUp {
			t.Errorf("edge %v is %s with B dead", e, got)
		}
	}
	if nodetest.NodeState(f, "A").State != live.StateUp || nodetest.NodeState(f, "C").State != live.StateUp {
		t.Errorf("A or C not up: %+v", f.Nodes)
	}
}

// TestLive_loneNode: a herd of one has no route to witness it; its
// heartbeat alone keeps it up.
func TestLive_loneNode(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {}})
	s := nodetest.OpenStream(t, h.Node("A").MonitorURL())
	s.FrameUntil("A up", 5*time.Second, nodetest.AllUp)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if f := s.FrameUntil("a frame", time.Second, func(live.Frame) bool { return true }); !nodetest.AllUp(f) {
			t.Fatalf("lone node drawn %+v", f.Nodes)
		}
	}
}

// TestLive_repair: a node's real anti-entropy repairs are an event in the
// frame. B is stopped, A takes seven IAMATs, B comes back and repairs the
// seven from A; its heartbeat carries its metrics' repair count.
func TestLive_repair(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A"}}, nodetest.FloodOnly)
	s := nodetest.OpenStream(t, h.Node("A").MonitorURL())
	s.FrameUntil("every node and route up", 5*time.Second, nodetest.AllUp)
	h.Stop("B")
	for i := range 7 {
		iamat(h, "A", fmt.Sprint("while-down-", i), 1, 1)
	}
	h.StartNode("B")
	f := s.FrameUntil("a repair event", 10*time.Second, func(f live.Frame) bool {
		return slices.ContainsFunc(f.Events, func(e live.Event) bool { return e.Kind == live.EventRepair })
	})
	if want := (live.Event{Kind: live.EventRepair, Node: "B", N: 7}); !slices.Contains(f.Events, want) {
		t.Errorf("events = %+v, want %+v", f.Events, want)
	}
}

// TestLive_cut: a route cut by herd chaos is drawn cut, not down, from the
// heartbeats of both ends, which list their cuts; healed, it is up again.
// Each change is an event. A node cut off from the viewing node is drawn
// cut off, not down.
func TestLive_cut(t *testing.T) {
	h := nodetest.Start(t, map[string][]string{"A": {"B", "C"}, "B": {"A", "C"}, "C": {"A", "B"}},
		nodetest.WithChaos(), nodetest.WithConfig(nodetest.Monitor))
	s := nodetest.OpenStream(t, h.Node("A").MonitorURL())
	s.FrameUntil("every node and route up", 5*time.Second, nodetest.AllUp)
	if err := h.Chaos.Cut("B", "C"); err != nil {
		t.Fatal(err)
	}
	var events []live.Event
	f := s.FrameUntil("B–C cut, and the event", 5*time.Second, func(f live.Frame) bool {
		events = append(events, f.Events...)
		return nodetest.EdgeState(f, "B", "C") == live.StateCut && slices.Contains(events, live.Event{Kind: live.EventCut, A: "B", B: "C"})
	})
	for _, e := range [][2]string{{"A", "B"}, {"A", "C"}} {
		if got := nodetest.EdgeState(f, e[0], e[1]); got != live.StateUp {
			t.Errorf("edge %v is %s, want up", e, got)
		}
	}
	for _, n := range []string{"A", "B", "C"} {
		if got := nodetest.NodeState(f, n).State; got != live.StateUp {
			t.Errorf("%s drawn %s during a cut, want up", n, got)
		}
	}
	if err := h.Chaos.Heal("B", "C"); err != nil {
		t.Fatal(err)
	}
	events = nil
	s.FrameUntil("B–C up again, and the event", 5*time.Second, func(f live.Frame) bool {
		events = append(events, f.Events...)
		return nodetest.AllUp(f) && slices.Contains(events, live.Event{Kind: live.EventHealed, A: "B", B: "C"})
	})

	// Cut from the viewing node: B's heartbeats no longer reach A. B is
	// drawn cut off, not down (no down event), from its last heartbeat.
	if err := h.Chaos.Cut("A", "B"); err != nil {
		t.Fatal(err)
	}
	events = nil
	f = s.FrameUntil("B cut off", 5*time.Second, func(f live.Frame) bool {
		events = append(events, f.Events...)
		return nodetest.NodeState(f, "B").State == live.StateCut
	})
	if got := nodetest.EdgeState(f, "A", "B"); got != live.StateCut {
		t.Errorf("edge A–B is %s, want cut", got)
	}
	if got := nodetest.EdgeState(f, "B", "C"); got != live.StateUp {
		t.Errorf("edge B–C is %s with B cut off from A only, want up (B's last heartbeat and C's)", got)
	}
	if slices.ContainsFunc(events, func(e live.Event) bool { return e.Kind == live.EventDown }) {
		t.Errorf("events %+v: B cut off is not down", events)
	}
	if err := h.Chaos.HealAll(); err != nil {
		t.Fatal(err)
	}
	s.FrameUntil("all up again", 5*time.Second, nodetest.AllUp)
}

func TestLive_page(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {}})
	url := h.Node("A").MonitorURL()
	for _, tt := range []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html", `src="live/static/app.js"`, 200},
		{"/live/static/app.js", "text/javascript", "EventSource", 200},
		{"/live/static/style.css", "text/css", "--up", 200},
		{"/live/static/world.json", "application/json", `"rings"`, 200},
		{"/nothing", "text/plain", "404", 404},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(url + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) ||
				!strings.Contains(string(body), tt.contains) {
				t.Errorf("GET %s: %d %q, body has %q: %v", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"),
					tt.contains, strings.Contains(string(body), tt.contains))
			}
		})
	}
}

// TestLive_Close ends open streams, refuses new ones, and is idempotent.
func TestLive_Close(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {}})
	a := h.Node("A").Live()
	s := nodetest.OpenStream(t, h.Node("A").MonitorURL())
	s.Next() // hello
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := io.Copy(io.Discard, s.Reader()); err != nil {
		t.Fatalf("stream after Close: %v", err)
	}
	resp, err := http.Get(h.Node("A").MonitorURL() + "/live/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("events after Close: %s", resp.Status)
	}
	if err := a.Start(context.Background()); !errors.Is(err, live.ErrStarted) {
		t.Errorf("Start after Close = %v, want ErrStarted", err)
	}
}
