package antientropy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// syncCounts is an anti-entropy Observer for tests.
type syncCounts struct {
	mu             sync.Mutex // guards the fields below
	rounds, inSync int
	repaired       int
	refused        int
	errs           []error
}

var _ Observer = (*syncCounts)(nil)

func (c *syncCounts) Synced(_ string, inSync bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rounds++
	if inSync {
		c.inSync++
	}
	if err != nil {
		c.errs = append(c.errs, err)
	}
}

func (c *syncCounts) Repaired(_ string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repaired += n
}

func (c *syncCounts) Refused(string, bus.Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused++
}

func (c *syncCounts) snapshot() (rounds, inSync, repaired, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rounds, c.inSync, c.repaired, c.refused
}

func at(origin, client, tm string) string {
	return fmt.Sprintf("AT %s +0.000000001 %s +1+1 %s", origin, client, tm)
}

// syncPair starts nodes A and B, neighbors of each other (A also of C,
// which is nobody), with stores filled before Start so that the start-up
// exchange is what repairs them.
func syncPair(t *testing.T, a, b []string, mod func(*Config)) (storeA, storeB *bustest.Store, obsA, obsB *syncCounts) {
	t.Helper()
	ns := bustest.StartNATS(t)
	storeA, storeB = bustest.NewStore(), bustest.NewStore()
	for _, l := range a {
		storeA.Put(bustest.MustRecord(t, l))
	}
	for _, l := range b {
		storeB.Put(bustest.MustRecord(t, l))
	}
	obsA = startNodeOn(t, ns, "A", []string{"B", "C"}, storeA, mod).obs
	obsB = startNodeOn(t, ns, "B", []string{"A"}, storeB, mod).obs
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
func TestAntiEntropy_SyncRepairsBothWays(t *testing.T) {
	a := []string{at("A", "onlyA", "5"), at("A", "both", "10"), at("B", "older-at-A", "1")}
	b := []string{at("B", "onlyB", "6"), at("B", "both", "9"), at("B", "older-at-A", "2")}
	stA, stB, _, _ := syncPair(t, a, b, func(c *Config) { c.Interval = 0 })
	want := map[string]string{
		"onlyA": at("A", "onlyA", "5"), "onlyB": at("B", "onlyB", "6"),
		"both": at("A", "both", "10"), "older-at-A": at("B", "older-at-A", "2"),
	}
	wait.For(t, "both stores converged", func() bool {
		return sameRecords(stA.Lines(), want) && sameRecords(stB.Lines(), want)
	})
}

// Records pulled by repair are relayed by the flood rules: to every
// neighbor but their origin and the peer they came from, with this node
// as sender.
func TestAntiEntropy_SyncRelaysRepaired(t *testing.T) {
	ns := bustest.StartNATS(t)
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
		relayed = append(relayed, strings.Join([]string{m.Subject, m.Header.Get(bus.HeaderOrigin), m.Header.Get(bus.HeaderSender), string(m.Data)}, " | "))
	}); err != nil {
		t.Fatal(err)
	}
	watch.Flush()
	stB := startNode(t, ns, "B", []string{"A"}, func(c *Config) { c.Interval = 0 }).store
	stB.Put(bustest.MustRecord(t, at("X", "c", "1")))
	// A: neighbors B (the peer), C, and X (the record's origin).
	startNode(t, ns, "A", []string{"B", "C", "X"}, func(c *Config) { c.Interval = 0 })
	want := "herd.at.C | X | A | " + at("X", "c", "1")
	wait.For(t, "repaired record relayed to C", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(relayed) == 1 && relayed[0] == want
	})
}

// While in sync, an exchange is one root request and one reply, whatever
// the number of records.
func TestAntiEntropy_SyncInSyncIsRootOnly(t *testing.T) {
	var recs []string
	for i := range 3000 {
		recs = append(recs, at("A", fmt.Sprintf("c%d", i), "1"))
	}
	ns := bustest.StartNATS(t)
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
		n := startNode(t, ns, name, []string{nbr}, func(c *Config) { c.Interval = 20 * time.Millisecond })
		if name == "A" {
			obsA = n.obs
		}
		for _, l := range recs {
			n.store.Put(bustest.MustRecord(t, l))
		}
	}
	// The stores may have been caught half-filled at start; wait until A
	// has seen ten exchanges in a row in sync.
	wait.For(t, "exchanges in sync", func() bool {
		_, inSync, _, _ := obsA.snapshot()
		return inSync >= 10
	})
	ops.Clear()
	bytesSeen.Store(0)
	_, before, _, _ := obsA.snapshot()
	wait.For(t, "ten more exchanges", func() bool {
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
func TestAntiEntropy_SyncLarge(t *testing.T) {
	var recs []string
	for i := range 20000 {
		recs = append(recs, at("A", fmt.Sprintf("client-%d", i), "1"))
	}
	stA, stB, _, obsB := syncPair(t, recs, nil, func(c *Config) { c.Interval = 0; c.MaxPayload = 4096 })
	wait.For(t, "B filled", func() bool {
		return sameRecords(stA.Lines(), stB.Lines())
	})
	// B pulled what it lacked, or A pushed it: together every record once.
	wait.For(t, "counts settled", func() bool {
		_, _, repairedB, _ := obsB.snapshot()
		return repairedB == len(recs)
	})
}

// NeighborUp syncs at once, even with periodic exchanges off.
func TestAntiEntropy_NeighborUp(t *testing.T) {
	ns := bustest.StartNATS(t)
	a := startNode(t, ns, "A", []string{"B"}, func(c *Config) { c.Interval = 0 })
	stA, stB := a.store, startNode(t, ns, "B", []string{"A"}, func(c *Config) { c.Interval = 0 }).store
	// Change B behind the flood's back, after (or while) the start-up
	// exchanges ran.
	stB.Put(bustest.MustRecord(t, at("B", "late", "1")))
	a.ae.NeighborUp("B")
	a.ae.NeighborUp("nobody") // not a neighbor: ignored
	wait.For(t, "A pulled the record", func() bool { return stA.Line("late") != "" })
}

// Requests from outside the neighbors, or outside the protocol, are
// refused with a reply and change nothing.
func TestAntiEntropy_SyncRefuses(t *testing.T) {
	ns := bustest.StartNATS(t)
	a := startNode(t, ns, "A", []string{"B"}, func(c *Config) { c.Interval = 0 })
	st, obs := a.store, a.obs
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tests := []struct{ name, sender, op, data string }{
		{"not a neighbor", "Z", opRoot, "0000000000000000"},
		{"records from a non-neighbor", "Z", opRecords, fmt.Sprintf("%d\n%s", digest.Bucket("zz"), at("Z", "zz", "1"))},
		{"no sender", "", opRoot, "0000000000000000"},
		{"unknown op", "B", "explode", ""},
		{"bad root", "B", opRoot, "xyz"},
		{"bad groups", "B", opBuckets, "1 64"},
		{"duplicate groups", "B", opBuckets, "1 1"},
		{"bad buckets", "B", opRecords, "4096\n" + at("B", "c", "1")},
		{"negative bucket", "B", opRecords, "-1\n"},
	}
	for _, tt := range tests {
		m := nats.NewMsg(Subject("A"))
		m.Header.Set(bus.HeaderSender, tt.sender)
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
	if len(st.Lines()) != 0 {
		t.Fatalf("a refused request stored %v", st.Lines())
	}
	if _, _, _, refused := obs.snapshot(); refused != len(tests) {
		t.Fatalf("%d refusals counted, want %d", refused, len(tests))
	}
	// A records request with lines of buckets it did not list: the lines
	// are stored if newer (they are valid records), but the reply is only
	// about the listed buckets.
	m := nats.NewMsg(Subject("A"))
	m.Header.Set(bus.HeaderSender, "B")
	m.Header.Set(HeaderSync, opRecords)
	m.Data = []byte(fmt.Sprintf("%d\n%s\nnot a record", digest.Bucket("zz"), at("B", "c", "1")))
	if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "pushed record stored", func() bool { return st.Line("c") != "" })
}

func TestConfig_Validate(t *testing.T) {
	for field, mod := range map[string]func(*Config){
		"Name":       func(c *Config) { c.Name = "a b" },
		"Interval":   func(c *Config) { c.Interval = -1 },
		"Jitter":     func(c *Config) { c.Jitter = 1 },
		"Timeout":    func(c *Config) { c.Timeout = 0 },
		"MaxPayload": func(c *Config) { c.MaxPayload = 10 },
	} {
		cfg := DefaultConfig()
		cfg.Name = "A"
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}
