package live

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestView_broadcast: a browser that stops reading never holds up the
// others; once it has missed a whole buffer of frames it is dropped.
func TestView_broadcast(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ViewerBuffer = 2
	v := newView(cfg, nil)
	slow, err := v.addViewer()
	if err != nil {
		t.Fatal(err)
	}
	fast, err := v.addViewer()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		v.broadcast([]byte{byte(i)})
		<-fast.ch // the fast one reads every frame
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("slow viewer not dropped after missing a buffer of frames")
	}
	if n := v.viewerCount(); n != 1 {
		t.Errorf("viewerCount = %d, want 1 (the fast one)", n)
	}
	if got := len(slow.ch); got != 2 {
		t.Errorf("slow viewer holds %d frames, want its buffer of 2", got)
	}
}

func TestView_maxViewers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxViewers = 1
	v := newView(cfg, nil)
	if _, err := v.addViewer(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.addViewer(); err != errTooManyViewers {
		t.Errorf("second viewer: %v, want errTooManyViewers", err)
	}
}

func TestRater_add(t *testing.T) {
	var r rater
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		at    time.Duration
		iamat uint64
		want  float64
	}{
		{0, 0, 0},
		{250 * time.Millisecond, 100, 400},
		{500 * time.Millisecond, 200, 400},
		{time.Second, 1000, 1000},
		{1500 * time.Millisecond, 1000, 800}, // window: 0.5 s → 1.5 s
		{2500 * time.Millisecond, 1000, 0},   // nothing new for a second
		{2750 * time.Millisecond, 10, 0},     // counter reset
	} {
		got := r.add(t0.Add(tt.at), NodeStats{IAMAT: tt.iamat})
		if got.IAMAT != tt.want {
			t.Errorf("at %v with %d IAMATs: rate %v, want %v", tt.at, tt.iamat, got.IAMAT, tt.want)
		}
	}
}

// TestView_frame_downWhy: the event that draws a node down says why: its
// goodbye, no route to it from the nodes that beat on time, or its
// silence for DownAfter while still routed.
func TestView_frame_downWhy(t *testing.T) {
	cfg := DefaultConfig() // Beat 250 ms, DownAfter 1 s
	cfg.Nodes = []string{"A", "B", "C"}
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	beat := func(name string, peers ...string) Beat { return Beat{Node: name, Peers: peers} }
	for _, tt := range []struct {
		name string
		// then are the beats after every node beat at t0 (A and B
		// routed to C, C to both), and now when the frame is built.
		then map[string]nodeSeen
		now  int
		want string
	}{
		{"goodbye", map[string]nodeSeen{"C": {Beat{Node: "C", Bye: true}, at(100)}}, 200, WhyStopped},
		{"no route", map[string]nodeSeen{
			"A": {beat("A", "B"), at(600)}, "B": {beat("B", "A"), at(600)},
		}, 700, WhyNoRoute},
		{"silent", map[string]nodeSeen{
			"A": {beat("A", "B", "C"), at(1100)}, "B": {beat("B", "A", "C"), at(1100)},
		}, 1200, WhySilent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(cfg, [][2]string{{"A", "B"}, {"B", "C"}, {"A", "C"}})
			v.resetLocked()
			v.sub, v.since = &nats.Subscription{}, t0 // listening
			v.nodes["A"] = nodeSeen{beat("A", "B", "C"), t0}
			v.nodes["B"] = nodeSeen{beat("B", "A", "C"), t0}
			v.nodes["C"] = nodeSeen{beat("C", "A", "B"), t0}
			if f, _ := v.frame(at(10)); f.Nodes[2].State != StateUp {
				t.Fatalf("C is %s at first, want up", f.Nodes[2].State)
			}
			for name, s := range tt.then {
				v.nodes[name] = s
			}
			f, _ := v.frame(at(tt.now))
			want := Event{Kind: EventDown, Node: "C", Why: tt.want}
			if f.Nodes[2].State != StateDown || !slices.Contains(f.Events, want) {
				t.Errorf("C is %s, events %+v; want down with %+v", f.Nodes[2].State, f.Events, want)
			}
		})
	}
}
