package antientropy

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/embeddednats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is the flood and the anti-entropy of one node on a shared server.
type node struct {
	bus   *bus.Bus
	ae    *AntiEntropy
	store *bustest.Store
	obs   *syncCounts
}

func startNode(t testing.TB, ns *embeddednats.Server, name string, neighbors []string, mod func(*Config)) *node {
	t.Helper()
	return startNodeOn(t, ns, name, neighbors, bustest.NewStore(), mod)
}

func startNodeOn(t testing.TB, ns *embeddednats.Server, name string, neighbors []string, st *bustest.Store, mod func(*Config)) *node {
	t.Helper()
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	bc := bus.DefaultConfig()
	bc.Name, bc.Neighbors = name, neighbors
	bc.Link = func() (bus.Link, error) {
		c, cr, err := ns.DialInProcess()
		return bus.Link{Conn: c, Nkey: cr.Nkey, Sign: cr.Sign}, err
	}
	b, err := bus.New(bc, st)
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
