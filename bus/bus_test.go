package bus

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mapStore is the node's real store, with helpers for tests.
type mapStore struct{ *store.Store }

func newMapStore() *mapStore { return &mapStore{store.New()} }

func (s *mapStore) get(c string) string {
	r, _ := s.Get(c)
	return r.Line
}

func (s *mapStore) lines() map[string]string {
	out := map[string]string{}
	s.Range(func(r record.Record) bool {
		out[r.Client()] = r.Line
		return true
	})
	return out
}

// counts is an Observer for tests.
type counts struct {
	published, received, stale, dropped, invalid atomic.Int64
}

func (c *counts) Published(string, int) { c.published.Add(1) }
func (c *counts) Received(_ string, newer bool) {
	if newer {
		c.received.Add(1)
	} else {
		c.stale.Add(1)
	}
}
func (c *counts) Latency(time.Duration)   {}
func (c *counts) Dropped(n int, _ string) { c.dropped.Add(int64(n)) }
func (c *counts) Invalid(string)          { c.invalid.Add(1) }

func startNATS(t *testing.T) *embeddednats.Server {
	t.Helper()
	cfg := embeddednats.DefaultConfig()
	cfg.Name = "test"
	cfg.Logger = nil
	s, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startBus(t *testing.T, ns *embeddednats.Server, name string, neighbors []string, mod func(*Config)) (*Bus, *mapStore, *counts) {
	t.Helper()
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, obs := newMapStore(), &counts{}
	cfg := DefaultConfig()
	cfg.Name, cfg.Neighbors, cfg.Conn, cfg.Store, cfg.Observe = name, neighbors, nc, st, obs
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b, st, obs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustRecord(t *testing.T, line string) record.Record {
	t.Helper()
	r, err := record.Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A coalesced message carries every line; invalid messages and lines are
// counted and change nothing.
func TestBus_Receive(t *testing.T) {
	ns := startNATS(t)
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
	waitFor(t, "all messages handled", func() bool {
		return obs.received.Load() == 3 && obs.invalid.Load() == 5 && obs.stale.Load() == 1
	})
	for _, c := range []string{"c1", "c2", "c3"} {
		if st.get(c) == "" {
			t.Errorf("%s not stored", c)
		}
	}
	for _, c := range []string{"c4", "c5", "c6"} {
		if st.get(c) != "" {
			t.Errorf("%s stored from an invalid message", c)
		}
	}
}

// Records ready together are coalesced into one message per neighbor and
// origin, split at MaxPayload.
func TestBus_Coalesce(t *testing.T) {
	ns := startNATS(t)
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
	waitFor(t, "all records published", func() bool { return lines.Load() == n })
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
	ns := startNATS(t)
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	obs := &counts{}
	cfg := DefaultConfig()
	cfg.Name, cfg.Neighbors, cfg.Conn, cfg.Store, cfg.Observe, cfg.QueueLen = "A", []string{"B"}, nc, newMapStore(), obs, 4
	b, err := New(cfg) // not started: nothing drains the queue
	if err != nil {
		t.Fatal(err)
	}
	r := mustRecord(t, "AT A +0.000000001 c +1+1 1")
	for range 10 {
		b.Publish(r)
	}
	if obs.dropped.Load() != 6 {
		t.Fatalf("dropped %d, want 6", obs.dropped.Load())
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
}

func TestConfig_Validate(t *testing.T) {
	ns := startNATS(t)
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = "a.b" }},
		{"Conn", func(c *Config) { c.Conn = nil }},
		{"Store", func(c *Config) { c.Store = nil }},
		{"Logger", func(c *Config) { c.Logger = nil }},
		{"QueueLen", func(c *Config) { c.QueueLen = 0 }},
		{"MaxPayload", func(c *Config) { c.MaxPayload = 10 }},
		{"Neighbors[1]", func(c *Config) { c.Neighbors = []string{"B", "A"} }},
		{"Neighbors[1]", func(c *Config) { c.Neighbors = []string{"B", "B"} }},
		{"Neighbors[0]", func(c *Config) { c.Neighbors = []string{"*"} }},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Name, cfg.Neighbors, cfg.Conn, cfg.Store = "A", []string{"B"}, nc, newMapStore()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		tt.mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
}
