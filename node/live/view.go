package live

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Frame is what a browser gets every tick: the state of every node and
// edge, the hops and client locations since the last frame, and what
// changed.
type Frame struct {
	Time    int64      `json:"time"` // Unix milliseconds, this node's clock
	Nodes   []NodeView `json:"nodes"`
	Edges   []EdgeView `json:"edges"`
	Hops    []Hop      `json:"hops"`
	Clients []Client   `json:"clients"`
	Events  []Event    `json:"events"`
	// Gateways are the gateways between every two regions (regions.go);
	// empty in a herd of one region.
	Gateways []GatewayView `json:"gateways"`
}

// Node and edge states.
const (
	StateUnknown = "unknown" // no heartbeat yet since the view started listening
	StateUp      = "up"
	StateDown    = "down" // node: silent for DownAfter or said bye; edge: no route either way
	StateHalf    = "half" // edge: only one end lists the other as a route peer
	// StateCut: an edge that is not up while an end cuts it (herd chaos);
	// a node not heard from here while a node that is cuts it (its
	// heartbeats cannot cross the cut: drawn from its last one).
	StateCut = "cut"
)

// NodeView is one node as a browser sees it.
type NodeView struct {
	Name  string    `json:"name"`
	State string    `json:"state"`
	Age   int64     `json:"age"` // milliseconds since its last heartbeat; -1 if none
	Peers []string  `json:"peers"`
	Stats NodeStats `json:"stats"`
	Rates Rates     `json:"rates"`
	// Region is the node's region and Gateways the regions its gateways
	// deliver to (regions.go); empty in a herd of one region.
	Region   string   `json:"region,omitempty"`
	Gateways []string `json:"gateways,omitempty"`
}

// EdgeView is one configured neighbor edge and its NATS route's state.
type EdgeView struct {
	A     string `json:"a"`
	B     string `json:"b"`
	State string `json:"state"`
}

// Event kinds.
const (
	EventDown   = "down"   // Node stopped beating
	EventUp     = "up"     // Node is back
	EventCut    = "cut"    // the route A–B is gone
	EventHealed = "healed" // the route A–B is back
	EventRepair = "repair" // Node stored N records by anti-entropy
)

// Why a node is drawn down (Event.Why of EventDown), so that an operator
// tells a node stopped in order from one whose routes closed (it died,
// or the network cut it off) and from one still routed but silent (hung).
const (
	WhyStopped = "stopped"  // it said goodbye (Beat.Bye)
	WhyNoRoute = "no route" // no node heard on time has a route to it
	WhySilent  = "silent"   // no heartbeat for DownAfter
)

// Event is a change worth a line in the page's log.
type Event struct {
	Kind string `json:"kind"`
	Node string `json:"node,omitempty"`
	A    string `json:"a,omitempty"`
	B    string `json:"b,omitempty"`
	N    uint64 `json:"n,omitempty"`
	Why  string `json:"why,omitempty"` // EventDown: one of the Why constants
}

// Hello is the first event of a stream: the topology and timings.
type Hello struct {
	Self      string      `json:"self"`
	Nodes     []string    `json:"nodes"`
	Edges     [][2]string `json:"edges"`
	Beat      int64       `json:"beat"`      // ms
	DownAfter int64       `json:"downAfter"` // ms
	Tick      int64       `json:"tick"`      // ms
	// Regions group the nodes in a herd of several regions; else empty.
	Regions []Region `json:"regions,omitempty"`
}

// maxClientsPerFrame bounds the client locations in one frame.
const maxClientsPerFrame = 64

type nodeSeen struct {
	beat Beat
	at   time.Time // receiver's clock
}

// view aggregates the herd's heartbeats and flood summaries for this
// node's browsers. It listens only while a browser is connected.
type view struct {
	cfg   Config
	edges [][2]string

	mu        sync.Mutex // guards everything below
	sub       *nats.Subscription
	since     time.Time // when sub was made
	viewers   map[*viewer]struct{}
	nodes     map[string]nodeSeen
	hops      map[Hop]*Hop // keyed with Msgs and Records zero
	clients   []Client
	seen      map[string]bool // clients in this frame
	events    []Event
	nodeState map[string]string
	edgeState map[[2]string]string
}

func newView(cfg Config, edges [][2]string) *view {
	return &view{cfg: cfg, edges: edges, viewers: map[*viewer]struct{}{}}
}

func (v *view) hello() Hello {
	edges := v.edges
	if edges == nil {
		edges = [][2]string{}
	}
	return Hello{Self: v.cfg.Name, Nodes: v.cfg.Nodes, Edges: edges,
		Beat: v.cfg.Beat.Milliseconds(), DownAfter: v.cfg.DownAfter.Milliseconds(),
		Tick: v.cfg.Tick.Milliseconds(), Regions: v.cfg.regions()}
}

// resetLocked forgets the herd's state: what the view knew is stale once
// it stopped listening.
func (v *view) resetLocked() {
	v.nodes = map[string]nodeSeen{}
	v.hops = map[Hop]*Hop{}
	v.seen = map[string]bool{}
	v.clients, v.events = nil, nil
	v.nodeState = map[string]string{}
	v.edgeState = map[[2]string]string{}
}

// follow subscribes while there are viewers and unsubscribes when the
// last one leaves.
func (v *view) follow(nc *nats.Conn, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case len(v.viewers) > 0 && v.sub == nil:
		v.resetLocked()
		sub, err := nc.Subscribe(subscribeAll, v.receive)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subscribeAll, err)
		}
		v.sub, v.since = sub, now
	case len(v.viewers) == 0 && v.sub != nil:
		v.sub.Unsubscribe()
		v.sub = nil
	}
	return nil
}

func (v *view) unsubscribe() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sub != nil {
		v.sub.Unsubscribe()
		v.sub = nil
	}
}

// receive takes one heartbeat or flood summary. Messages about nodes not
// in the topology, or whose subject and body disagree, are ignored.
func (v *view) receive(m *nats.Msg) {
	now := time.Now()
	switch {
	case strings.HasPrefix(m.Subject, BeatSubjectPrefix):
		var b Beat
		name := strings.TrimPrefix(m.Subject, BeatSubjectPrefix)
		if json.Unmarshal(m.Data, &b) != nil || b.Node != name || !slices.Contains(v.cfg.Nodes, name) {
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.nodes == nil {
			return
		}
		if old, ok := v.nodes[name]; ok && !b.Bye && b.Stats.Repairs > old.beat.Stats.Repairs {
			v.events = append(v.events, Event{Kind: EventRepair, Node: name, N: b.Stats.Repairs - old.beat.Stats.Repairs})
		}
		if b.Bye { // keep the last counters on show
			old := v.nodes[name].beat
			b.Stats, b.Rates = old.Stats, Rates{}
		}
		v.nodes[name] = nodeSeen{beat: b, at: now}
	case strings.HasPrefix(m.Subject, FloodSubjectPrefix):
		var f Flood
		name := strings.TrimPrefix(m.Subject, FloodSubjectPrefix)
		if json.Unmarshal(m.Data, &f) != nil || f.Node != name || !slices.Contains(v.cfg.Nodes, name) {
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.hops == nil {
			return
		}
		for _, h := range f.Hops {
			if h.To != name || !slices.Contains(v.cfg.Nodes, h.From) || !slices.Contains(v.cfg.Nodes, h.Origin) {
				continue
			}
			k := Hop{From: h.From, To: h.To, Origin: h.Origin}
			agg := v.hops[k]
			if agg == nil {
				agg = &k
				v.hops[k] = agg
			}
			agg.Msgs += h.Msgs
			agg.Records += h.Records
		}
		for _, c := range f.Clients {
			if len(v.clients) >= maxClientsPerFrame || v.seen[c.Client] {
				continue
			}
			v.seen[c.Client] = true
			v.clients = append(v.clients, c)
		}
	}
}

// frame builds the frame for now and resets what it consumed. ok is false
// when the view is not listening.
func (v *view) frame(now time.Time) (f Frame, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sub == nil {
		return Frame{}, false
	}
	f = Frame{Time: now.UnixMilli(), Nodes: make([]NodeView, 0, len(v.cfg.Nodes)),
		Edges: make([]EdgeView, 0, len(v.edges)), Hops: make([]Hop, 0, len(v.hops)),
		Clients: v.clients, Events: v.events}
	// A node a beat or two late is still up if a node that beat on time
	// has a route to it; once none has (a dead server's routes close at
	// once, and NATS meshes every pair) it is down without waiting for
	// DownAfter. A lone node has no such witness.
	onTime := map[string]bool{}
	listed := map[string]bool{}
	cutBy := map[string]bool{} // cut by a node on time
	for name, seen := range v.nodes {
		if !seen.beat.Bye && now.Sub(seen.at) <= 2*v.cfg.Beat {
			onTime[name] = true
			for _, p := range seen.beat.Peers {
				listed[p] = true
			}
			for _, p := range seen.beat.Cut {
				cutBy[p] = true
			}
		}
	}
	peers := map[string][]string{}
	cuts := map[string][]string{}
	for _, name := range v.cfg.Nodes {
		nv := NodeView{Name: name, State: StateUnknown, Age: -1, Peers: []string{}}
		seen, ok := v.nodes[name]
		witnessed := onTime[name] || listed[name] || len(onTime) == 0
		why := ""
		switch {
		case ok && seen.beat.Bye:
			nv.State, why = StateDown, WhyStopped
		case ok && now.Sub(seen.at) <= v.cfg.DownAfter && witnessed:
			nv.State = StateUp
			nv.Peers = seen.beat.Peers
			peers[name] = seen.beat.Peers
			cuts[name] = seen.beat.Cut
		case cutBy[name]:
			nv.State = StateCut
			if ok {
				nv.Peers = seen.beat.Peers
				peers[name] = seen.beat.Peers
				cuts[name] = seen.beat.Cut
			}
		case ok && now.Sub(seen.at) <= v.cfg.DownAfter: // not witnessed
			nv.State, why = StateDown, WhyNoRoute
		case ok || now.Sub(v.since) > v.cfg.DownAfter:
			nv.State, why = StateDown, WhySilent
		}
		if ok {
			nv.Age = now.Sub(seen.at).Milliseconds()
			nv.Stats = seen.beat.Stats
			if nv.State == StateUp {
				nv.Rates = seen.beat.Rates
			}
		}
		// A node cut off is no news of its own: its edges say it.
		if prev := v.nodeState[name]; prev != "" && prev != StateUnknown && prev != StateCut && prev != nv.State && nv.State != StateUnknown && nv.State != StateCut {
			ev := Event{Kind: EventDown, Node: name, Why: why}
			if nv.State == StateUp {
				ev = Event{Kind: EventUp, Node: name}
			}
			f.Events = append(f.Events, ev)
		}
		v.nodeState[name] = nv.State
		f.Nodes = append(f.Nodes, nv)
	}
	f.Gateways = v.gatewaysLocked(&f, peers) // regions.go: cross-region edges are up through gateways
	for _, e := range v.edges {
		ab := slices.Contains(peers[e[0]], e[1])
		ba := slices.Contains(peers[e[1]], e[0])
		cut := slices.Contains(cuts[e[0]], e[1]) || slices.Contains(cuts[e[1]], e[0])
		ev := EdgeView{A: e[0], B: e[1], State: StateDown}
		switch {
		case ab && ba:
			ev.State = StateUp
		case cut: // half up, the route is going away
			ev.State = StateCut
		case ab || ba:
			ev.State = StateHalf
		case v.nodeState[e[0]] == StateUnknown || v.nodeState[e[1]] == StateUnknown:
			ev.State = StateUnknown
		}
		// Only up and down (or cut) are worth a log line (half is on the
		// way), and only between two live nodes (a node going down says it
		// all).
		bothUp := v.nodeState[e[0]] == StateUp && v.nodeState[e[1]] == StateUp
		gone := func(s string) bool { return s == StateDown || s == StateCut }
		if prev := v.edgeState[e]; bothUp && ((prev == StateUp && gone(ev.State)) || (gone(prev) && ev.State == StateUp)) {
			kind := EventCut
			if ev.State == StateUp {
				kind = EventHealed
			}
			f.Events = append(f.Events, Event{Kind: kind, A: e[0], B: e[1]})
		}
		if ev.State == StateUp || gone(ev.State) {
			v.edgeState[e] = ev.State
		}
		f.Edges = append(f.Edges, ev)
	}
	for _, h := range v.hops {
		f.Hops = append(f.Hops, *h)
	}
	slices.SortFunc(f.Hops, func(a, b Hop) int { return b.Records - a.Records })
	if f.Clients == nil {
		f.Clients = []Client{}
	}
	if f.Events == nil {
		f.Events = []Event{}
	}
	clear(v.hops)
	clear(v.seen)
	v.clients, v.events = nil, nil
	return f, true
}
