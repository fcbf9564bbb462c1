package live

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
)

// Flood is what one node's tap saw in one tick, published as JSON on
// herd.live.flood.<node>: the hops it received, counted per sender and
// origin, and a bounded sample of the client locations they carried.
type Flood struct {
	Node    string   `json:"node"`
	Time    int64    `json:"time"` // Unix milliseconds, the node's clock
	Hops    []Hop    `json:"hops"`
	Clients []Client `json:"clients,omitempty"`
}

// Hop counts flood messages that went From a node To a neighbor, carrying
// Records records of Origin's.
type Hop struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Origin  string `json:"origin"`
	Msgs    int    `json:"msgs"`
	Records int    `json:"records"`
}

// Client is a client location seen in the flood.
type Client struct {
	Client string  `json:"client"`
	Origin string  `json:"origin"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
}

type hopKey struct{ from, origin string }

// tap is a second subscription on the node's own flood subject, present
// only while someone watches. Its callback counts and samples under a
// short lock and never waits; NATS drops what overflows TapPending (for
// this subscription only, the bus's own is not affected).
type tap struct {
	name    string
	samples int
	pending int

	mu      sync.Mutex // guards the fields below
	sub     *nats.Subscription
	hops    map[hopKey]*Hop
	clients []Client
	seen    map[string]bool // clients sampled this tick
}

func newTap(cfg Config) *tap {
	return &tap{name: cfg.Name, samples: cfg.Samples, pending: cfg.TapPending,
		hops: map[hopKey]*Hop{}, seen: map[string]bool{}}
}

// start subscribes unless already subscribed, and waits until the server
// has the subscription, so that hops are counted from the moment the tap
// reports itself running.
func (t *tap) start(nc *nats.Conn) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sub != nil {
		return nil
	}
	sub, err := nc.Subscribe(bus.Subject(t.name), t.receive)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", bus.Subject(t.name), err)
	}
	if err := sub.SetPendingLimits(t.pending, t.pending*64<<10); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("set pending limits: %w", err)
	}
	if err := nc.FlushTimeout(time.Second); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("flush tap subscription: %w", err)
	}
	t.sub = sub
	return nil
}

// running reports whether the tap is subscribed.
func (t *tap) running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sub != nil
}

// stop unsubscribes and forgets what was counted.
func (t *tap) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sub == nil {
		return
	}
	t.sub.Unsubscribe() // an error means the connection is gone: so is the sub
	t.sub = nil
	clear(t.hops)
	clear(t.seen)
	t.clients = nil
}

// receive counts one flood message. It runs on the subscription's own
// goroutine; the lock is held for a few map operations.
func (t *tap) receive(m *nats.Msg) {
	origin, sender := m.Header.Get(bus.HeaderOrigin), m.Header.Get(bus.HeaderSender)
	if !record.ValidName(origin) || !record.ValidName(sender) {
		return // the bus logs and counts protocol errors
	}
	records := bytes.Count(m.Data, []byte{'\n'}) + 1
	t.mu.Lock()
	defer t.mu.Unlock()
	k := hopKey{sender, origin}
	h := t.hops[k]
	if h == nil {
		h = &Hop{From: sender, To: t.name, Origin: origin}
		t.hops[k] = h
	}
	h.Msgs++
	h.Records += records
	if len(t.clients) < t.samples {
		t.sampleLocked(m.Data, origin)
	}
}

// sampleLocked adds the client location of the message's first line.
func (t *tap) sampleLocked(data []byte, origin string) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	r, err := record.Parse(data)
	if err != nil || t.seen[r.Client()] {
		return
	}
	lat, lon, ok := record.LatLng(r.Location())
	if !ok {
		return
	}
	t.seen[r.Client()] = true
	t.clients = append(t.clients, Client{Client: r.Client(), Origin: origin, Lat: lat, Lon: lon})
}

// take returns what was counted since the last take, if anything.
func (t *tap) take(now time.Time) (Flood, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.hops) == 0 {
		return Flood{}, false
	}
	f := Flood{Node: t.name, Time: now.UnixMilli(), Hops: make([]Hop, 0, len(t.hops)), Clients: t.clients}
	for _, h := range t.hops {
		f.Hops = append(f.Hops, *h)
	}
	clear(t.hops)
	clear(t.seen)
	t.clients = nil
	return f, true
}
