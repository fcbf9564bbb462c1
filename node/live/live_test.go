package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/herdhq/herd/node/live"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeRoutes struct{}

func (fakeRoutes) Peers() []string         { return nil }
func (fakeRoutes) HasInterest(string) bool { return false }

func TestConfig_Validate(t *testing.T) {
	valid := func() live.Config {
		c := live.DefaultConfig()
		c.Name, c.Nodes, c.Edges = "A", []string{"A", "B"}, [][2]string{{"A", "B"}}
		c.Conn, c.Routes = &nats.Conn{}, fakeRoutes{}
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*live.Config)
		field  string
	}{
		{"bad name", func(c *live.Config) { c.Name = "a.b" }, "Name"},
		{"name not in nodes", func(c *live.Config) { c.Nodes = []string{"B"}; c.Edges = nil }, "Nodes"},
		{"no conn", func(c *live.Config) { c.Conn = nil }, "Conn"},
		{"no routes", func(c *live.Config) { c.Routes = nil }, "Routes"},
		{"no logger", func(c *live.Config) { c.Logger = nil }, "Logger"},
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
			if _, err := live.New(c); !errors.Is(err, live.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// stream is a server-sent events client.
type stream struct {
	t    testing.TB
	resp *http.Response
	rd   *bufio.Reader
}

func openStream(t testing.TB, url string) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url+"/live/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /live/events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: t, resp: resp, rd: bufio.NewReader(resp.Body)}
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() { s.resp.Body.Close() }

// next returns the next event's name and data.
func (s *stream) next() (string, []byte) {
	s.t.Helper()
	var name string
	var data []byte
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = []byte(strings.TrimPrefix(line, "data: "))
		}
	}
}

// frameUntil reads frames until cond holds for one, or fails after timeout.
func (s *stream) frameUntil(what string, timeout time.Duration, cond func(live.Frame) bool) live.Frame {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		name, data := s.next()
		if name != "frame" {
			continue
		}
		var f live.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			s.t.Fatalf("frame %s: %v", data, err)
		}
		if cond(f) {
			return f
		}
	}
	s.t.Fatalf("no frame with %s within %v", what, timeout)
	return live.Frame{}
}

func nodeState(f live.Frame, name string) live.NodeView {
	for _, n := range f.Nodes {
		if n.Name == name {
			return n
		}
	}
	return live.NodeView{}
}

func edgeState(f live.Frame, a, b string) string {
	for _, e := range f.Edges {
		if (e.A == a && e.B == b) || (e.A == b && e.B == a) {
			return e.State
		}
	}
	return ""
}

func allUp(f live.Frame) bool {
	for _, n := range f.Nodes {
		if n.State != live.StateUp {
			return false
		}
	}
	for _, e := range f.Edges {
		if e.State != live.StateUp {
			return false
		}
	}
	return true
}

// TestLive_Handler follows one browser's stream through a whole story:
// the herd shows up, an IAMAT floods (hop and client location), a node
// goes away (down at once, by its goodbye) and the stream ends cleanly.
func TestLive_Handler(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}, nil)
	a := h.members["A"]
	if a.live.Viewers() != 0 || a.node.NATS().HasInterest(live.BeatSubject("A")) {
		t.Fatal("someone listens before any browser connected")
	}
	s := openStream(t, a.web.URL)
	name, data := s.next()
	var hello live.Hello
	if err := json.Unmarshal(data, &hello); name != "hello" || err != nil {
		t.Fatalf("first event %s %s: %v", name, data, err)
	}
	if hello.Self != "A" || !slices.Equal(hello.Nodes, []string{"A", "B", "C"}) || len(hello.Edges) != 2 {
		t.Errorf("hello = %+v", hello)
	}
	if a.live.Viewers() != 1 {
		t.Errorf("Viewers = %d, want 1", a.live.Viewers())
	}
	s.frameUntil("every node and route up", 5*time.Second, allUp)

	// An IAMAT at C floods C→B→A: both hops and the location show up.
	h.iamat("C", "kiwi.cs.ucla.edu", 34.068930, -118.445127)
	var hops []live.Hop
	var client *live.Client
	s.frameUntil("hops C→B and B→A and the client", 5*time.Second, func(f live.Frame) bool {
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
	f := s.frameUntil("B's flood counters", 5*time.Second, func(f live.Frame) bool {
		return nodeState(f, "B").Stats.FloodIn >= 1 && nodeState(f, "A").Stats.Records == 1
	})
	if st := nodeState(f, "C").Stats; st.IAMAT != 1 || st.Records != 1 {
		t.Errorf("C's stats = %+v, want 1 IAMAT and 1 record", st)
	}

	// C stops: its goodbye draws it down before DownAfter could.
	stopped := time.Now()
	h.stop("C")
	f = s.frameUntil("C down", 5*time.Second, func(f live.Frame) bool { return nodeState(f, "C").State == live.StateDown })
	if d := time.Since(stopped); d >= time.Second {
		t.Errorf("C drawn down %v after it stopped, want within a second", d)
	}
	if got := edgeState(f, "B", "C"); got == live.StateUp {
		t.Errorf("edge B–C is %s with C down", got)
	}
	s.frameUntil("the down event and edge B–C down", 5*time.Second, func(f live.Frame) bool {
		return slices.Contains(f.Events, live.Event{Kind: live.EventDown, Node: "C"}) || edgeState(f, "B", "C") == live.StateDown
	})

	// The browser leaves: the view stops listening, and so do the taps.
	s.close()
	waitFor(t, "no viewers", 5*time.Second, func() bool { return a.live.Viewers() == 0 })
	waitFor(t, "no interest in live subjects", 5*time.Second, func() bool {
		return !a.node.NATS().HasInterest(live.BeatSubject("B")) && !a.node.NATS().HasInterest(live.FloodSubject("A"))
	})
}

// TestLive_silentNode: a node that dies without a goodbye is drawn down
// within a second: the others' heartbeats stop listing a route to it.
func TestLive_silentNode(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}, nil)
	s := openStream(t, h.members["A"].web.URL)
	s.frameUntil("every node and route up", 5*time.Second, allUp)
	b := h.members["B"]
	stopped := time.Now()
	if err := b.node.Close(); err != nil { // NATS goes, the live view is left running
		t.Fatal(err)
	}
	f := s.frameUntil("B down", 5*time.Second, func(f live.Frame) bool { return nodeState(f, "B").State == live.StateDown })
	if d := time.Since(stopped); d >= time.Second {
		t.Errorf("B drawn down %v after it died, want within a second", d)
	}
	t.Logf("B drawn down %v after it died", time.Since(stopped).Round(time.Millisecond))
	for _, e := range [][2]string{{"A", "B"}, {"B", "C"}} {
		if got := edgeState(f, e[0], e[1]); got == live.StateUp {
			t.Errorf("edge %v is %s with B dead", e, got)
		}
	}
	if nodeState(f, "A").State != live.StateUp || nodeState(f, "C").State != live.StateUp {
		t.Errorf("A or C not up: %+v", f.Nodes)
	}
}

// TestLive_loneNode: a herd of one has no route to witness it; its
// heartbeat alone keeps it up.
func TestLive_loneNode(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {}}, nil)
	s := openStream(t, h.members["A"].web.URL)
	s.frameUntil("A up", 5*time.Second, allUp)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if f := s.frameUntil("a frame", time.Second, func(live.Frame) bool { return true }); !allUp(f) {
			t.Fatalf("lone node drawn %+v", f.Nodes)
		}
	}
}

// TestLive_repair: a growing Repairs counter is an event in the frame.
func TestLive_repair(t *testing.T) {
	var repairs atomicUint
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A"}}, func(c *live.Config) {
		if c.Name == "B" {
			c.Stats = func() live.NodeStats { return live.NodeStats{Repairs: repairs.load()} }
		}
	})
	s := openStream(t, h.members["A"].web.URL)
	s.frameUntil("every node and route up", 5*time.Second, allUp)
	repairs.store(7)
	f := s.frameUntil("a repair event", 5*time.Second, func(f live.Frame) bool { return len(f.Events) > 0 })
	if want := (live.Event{Kind: live.EventRepair, Node: "B", N: 7}); !slices.Contains(f.Events, want) {
		t.Errorf("events = %+v, want %+v", f.Events, want)
	}
}

func TestLive_page(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": {}}, nil)
	url := h.members["A"].web.URL
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
	h := startHerd(t, map[string][]string{"A": {}}, nil)
	a := h.members["A"]
	s := openStream(t, a.web.URL)
	s.next() // hello
	if err := a.live.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.live.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := io.Copy(io.Discard, s.rd); err != nil {
		t.Fatalf("stream after Close: %v", err)
	}
	resp, err := http.Get(a.web.URL + "/live/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("events after Close: %s", resp.Status)
	}
	if err := a.live.Start(context.Background()); !errors.Is(err, live.ErrStarted) {
		t.Errorf("Start after Close = %v, want ErrStarted", err)
	}
}
