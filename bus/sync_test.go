package bus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/digest"
)

// syncCounts is an Observer that also counts anti-entropy events.
type syncCounts struct {
	counts
	mu               sync.Mutex // guards the fields below
	rounds, inSync   int
	pulled, repaired int
	errs             []error
}

func (c *syncCounts) Synced(_ string, inSync bool, pulled int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rounds++
	if inSync {
		c.inSync++
	}
	c.pulled += pulled
	if err != nil {
		c.errs = append(c.errs, err)
	}
}

func (c *syncCounts) Repaired(_ string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repaired += n
}

func (c *syncCounts) snapshot() (rounds, inSync, pulled, repaired int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rounds, c.inSync, c.pulled, c.repaired
}

var _ SyncObserver = (*syncCounts)(nil)

func at(origin, client, tm string) string {
	return fmt.Sprintf("AT %s +0.000000001 %s +1+1 %s", origin, client, tm)
}

// syncPair starts buses A and B, neighbors of each other (A also of C,
// which is only a subscription), with stores filled before Start so that
// the start-up exchange is what repairs them.
func syncPair(t *testing.T, a, b []string, mod func(*Config)) (storeA, storeB *mapStore, obsA, obsB *syncCounts) {
	t.Helper()
	ns := startNATS(t)
	storeA, storeB = newMapStore(), newMapStore()
	for _, l := range a {
		storeA.Put(mustRecord(t, l))
	}
	for _, l := range b {
		storeB.Put(mustRecord(t, l))
	}
	obsA, obsB = &syncCounts{}, &syncCounts{}
	start := func(name string, nbrs []string, st *mapStore, obs *syncCounts) {
		nc, err := ns.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		cfg := DefaultConfig()
		cfg.Name, cfg.Neighbors, cfg.Conn, cfg.Store, cfg.Observe = name, nbrs, nc, st, obs
		if mod != nil {
			mod(&cfg)
		}
		bus, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bus.Close() })
	}
	start("A", []string{"B", "C"}, storeA, obsA)
	start("B", []string{"A"}, storeB, obsB)
	return storeA, storeB, obsA, obsB
}

func sameRecords(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for c, l := range a {
		if b[c] != l {
			return false
		}
	}
	return true
}

// Two stores that differ both ways end with the newest record of every
// client on both sides, by the exchanges at start alone.
func TestBus_SyncRepairsBothWays(t *testing.T) {
	a := []string{at("A", "onlyA", "5"), at("A", "both", "10"), at("B", "older-at-A", "1")}
	b := []string{at("B", "onlyB", "6"), at("B", "both", "9"), at("B", "older-at-A", "2")}
	stA, stB, _, _ := syncPair(t, a, b, func(c *Config) { c.SyncInterval = 0 })
	want := map[string]string{
		"onlyA": at("A", "onlyA", "5"), "onlyB": at("B", "onlyB", "6"),
		"both": at("A", "both", "10"), "older-at-A": at("B", "older-at-A", "2"),
	}
	waitFor(t, "both stores converged", func() bool {
		return sameRecords(stA.lines(), want) && sameRecords(stB.lines(), want)
	})
}

// Records pulled by repair are relayed by the flood rules: to every
// neighbor but their origin and the peer they came from, with this node
// as sender.
func TestBus_SyncRelaysRepaired(t *testing.T) {
	ns := startNATS(t)
	watch, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var mu sync.Mutex
	var relayed []string // "to origin sender line"
	if _, err := watch.Subscribe("herd.at.>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		relayed = append(relayed, strings.Join([]string{m.Subject, m.Header.Get(HeaderOrigin), m.Header.Get(HeaderSender), string(m.Data)}, " | "))
	}); err != nil {
		t.Fatal(err)
	}
	watch.Flush()
	_, stB, _ := startBus(t, ns, "B", []string{"A"}, func(c *Config) { c.SyncInterval = 0 })
	stB.Put(mustRecord(t, at("X", "c", "1")))
	// A: neighbors B (the peer), C, and X (the record's origin).
	startBus(t, ns, "A", []string{"B", "C", "X"}, func(c *Config) { c.SyncInterval = 0 })
	want := "herd.at.C | X | A | " + at("X", "c", "1")
	waitFor(t, "repaired record relayed to C", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(relayed) == 1 && relayed[0] == want
	})
}

// While in sync, an exchange is one root request and one reply, whatever
// the number of records.
func TestBus_SyncInSyncIsRootOnly(t *testing.T) {
	var recs []string
	for i := range 3000 {
		recs = append(recs, at("A", fmt.Sprintf("c%d", i), "1"))
	}
	ns := startNATS(t)
	watch, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var ops sync.Map // op → count
	var bytesSeen atomic.Int64
	if _, err := watch.Subscribe("herd.sync.>", func(m *nats.Msg) {
		op := m.Header.Get(HeaderSync)
		n, _ := ops.LoadOrStore(op, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		bytesSeen.Add(int64(len(m.Data)))
	}); err != nil {
		t.Fatal(err)
	}
	watch.Flush()
	var obsA *syncCounts
	for _, name := range []string{"A", "B"} {
		nbr := map[string]string{"A": "B", "B": "A"}[name]
		_, st, _ := startBus(t, ns, name, []string{nbr}, func(c *Config) {
			c.SyncInterval = 20 * time.Millisecond
			if name == "A" {
				obsA = &syncCounts{}
				c.Observe = obsA
			}
		})
		for _, l := range recs {
			st.Put(mustRecord(t, l))
		}
	}
	// The stores may have been caught half-filled at start; wait until A
	// has seen ten exchanges in a row in sync.
	waitFor(t, "exchanges in sync", func() bool {
		_, inSync, _, _ := obsA.snapshot()
		return inSync >= 10
	})
	ops.Clear()
	bytesSeen.Store(0)
	_, before, _, _ := obsA.snapshot()
	waitFor(t, "ten more exchanges", func() bool {
		_, inSync, _, _ := obsA.snapshot()
		return inSync >= before+10
	})
	ops.Range(func(k, v any) bool {
		if k != opRoot {
			t.Errorf("in sync, saw %d %q requests", v.(*atomic.Int64).Load(), k)
		}
		return true
	})
	// Each root request carries 16 hex digits; replies go to inboxes the
	// watcher does not see.
	if n, _ := ops.Load(opRoot); bytesSeen.Load() != 16*n.(*atomic.Int64).Load() {
		t.Errorf("%d payload bytes for %d root requests", bytesSeen.Load(), n.(*atomic.Int64).Load())
	}
}

// A store far behind is filled in chunks no larger than MaxPayload.
func TestBus_SyncLarge(t *testing.T) {
	var recs []string
	for i := range 20000 {
		recs = append(recs, at("A", fmt.Sprintf("client-%d", i), "1"))
	}
	stA, stB, _, obsB := syncPair(t, recs, nil, func(c *Config) { c.SyncInterval = 0; c.MaxPayload = 4096 })
	waitFor(t, "B filled", func() bool {
		return sameRecords(stA.lines(), stB.lines())
	})
	// B pulled what it lacked, or A pushed it: together every record once.
	waitFor(t, "counts settled", func() bool {
		_, _, pulledB, repairedB := obsB.snapshot()
		return pulledB+repairedB == len(recs)
	})
}

// NeighborUp syncs at once, even with periodic exchanges off.
func TestBus_NeighborUp(t *testing.T) {
	ns := startNATS(t)
	busA, stA, _ := startBus(t, ns, "A", []string{"B"}, func(c *Config) { c.SyncInterval = 0 })
	_, stB, _ := startBus(t, ns, "B", []string{"A"}, func(c *Config) { c.SyncInterval = 0 })
	// Change B behind the flood's back, after (or while) the start-up
	// exchanges ran.
	stB.Put(mustRecord(t, at("B", "late", "1")))
	busA.NeighborUp("B")
	busA.NeighborUp("nobody") // not a neighbor: ignored
	waitFor(t, "A pulled the record", func() bool { return stA.get("late") != "" })
}

// Requests from outside the neighbors, or outside the protocol, are
// refused with a reply and change nothing.
func TestBus_SyncRefuses(t *testing.T) {
	ns := startNATS(t)
	_, st, obs := startBus(t, ns, "A", []string{"B"}, func(c *Config) { c.SyncInterval = 0 })
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tests := []struct{ name, sender, op, data string }{
		{"not a neighbor", "Z", opRoot, "0000000000000000"},
		{"no sender", "", opRoot, "0000000000000000"},
		{"unknown op", "B", "explode", ""},
		{"bad root", "B", opRoot, "xyz"},
		{"bad groups", "B", opBuckets, "1 64"},
		{"duplicate groups", "B", opBuckets, "1 1"},
		{"bad buckets", "B", opRecords, "4096\n" + at("B", "c", "1")},
		{"negative bucket", "B", opRecords, "-1\n"},
	}
	for _, tt := range tests {
		m := nats.NewMsg(SyncSubject("A"))
		m.Header.Set(HeaderSender, tt.sender)
		m.Header.Set(HeaderSync, tt.op)
		m.Data = []byte(tt.data)
		reply, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if op := reply.Header.Get(HeaderSync); op != opRefused {
			t.Errorf("%s: reply %q, want %q", tt.name, op, opRefused)
		}
	}
	if len(st.lines()) != 0 {
		t.Fatalf("a refused request stored %v", st.lines())
	}
	if obs.invalid.Load() != int64(len(tests)) {
		t.Fatalf("%d invalid counted, want %d", obs.invalid.Load(), len(tests))
	}
	// A records request with lines of buckets it did not list: the lines
	// are stored if newer (they are valid records), but the reply is only
	// about the listed buckets.
	m := nats.NewMsg(SyncSubject("A"))
	m.Header.Set(HeaderSender, "B")
	m.Header.Set(HeaderSync, opRecords)
	m.Data = []byte(fmt.Sprintf("%d\n%s\nnot a record", digest.Bucket("zz"), at("B", "c", "1")))
	if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pushed record stored", func() bool { return st.get("c") != "" })
}

func TestConfig_ValidateSync(t *testing.T) {
	ns := startNATS(t)
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for field, mod := range map[string]func(*Config){
		"SyncInterval": func(c *Config) { c.SyncInterval = -1 },
		"SyncJitter":   func(c *Config) { c.SyncJitter = 1 },
		"SyncTimeout":  func(c *Config) { c.SyncTimeout = 0 },
	} {
		cfg := DefaultConfig()
		cfg.Name, cfg.Conn, cfg.Store = "A", nc, newMapStore()
		mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}
