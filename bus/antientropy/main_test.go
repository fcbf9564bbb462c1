package antientropy

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus"
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

func startNATS(t testing.TB) *embeddednats.Server {
	t.Helper()
	cfg := embeddednats.DefaultConfig()
	cfg.Name = "test"
	s, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// node is the flood and the anti-entropy of one node on a shared server.
type node struct {
	bus   *bus.Bus
	ae    *AntiEntropy
	store *mapStore
	obs   *syncCounts
}

func startNode(t testing.TB, ns *embeddednats.Server, name string, neighbors []string, mod func(*Config)) *node {
	t.Helper()
	return startNodeOn(t, ns, name, neighbors, newMapStore(), mod)
}

func startNodeOn(t testing.TB, ns *embeddednats.Server, name string, neighbors []string, st *mapStore, mod func(*Config)) *node {
	t.Helper()
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	bc := bus.DefaultConfig()
	bc.Name, bc.Neighbors = name, neighbors
	b, err := bus.New(bc, nc, st)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{bus: b, store: st, obs: &syncCounts{}}
	cfg := DefaultConfig()
	cfg.Name, cfg.Observe = name, n.obs
	if mod != nil {
		mod(&cfg)
	}
	if n.ae, err = New(cfg, nc, st, b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []interface {
		Start(ctx context.Context) error
		Close() error
	}{b, n.ae} {
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	return n
}

func mustRecord(t testing.TB, line string) record.Record {
	t.Helper()
	r, err := record.Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
