package loadgen

import (
	"context"
	"testing"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/places/offline"
)

func TestBalance(t *testing.T) {
	snap := func(kv map[string]float64) metricsSnapshot { return metricsSnapshot{series: kv} }
	before := snap(map[string]float64{
		`http://a herd_flood_published_records_total{node="A",to="B"}`:                  5,
		`http://b herd_flood_received_records_total{from="A",node="B",result="stored"}`: 5,
	})
	after := snap(map[string]float64{
		`http://a herd_flood_published_records_total{node="A",to="B"}`:                  15,
		`http://a herd_flood_published_records_total{node="A",to="C"}`:                  4,
		`http://b herd_flood_received_records_total{from="A",node="B",result="stored"}`: 12,
		`http://b herd_flood_received_records_total{from="A",node="B",result="stale"}`:  2,
		`http://c herd_flood_received_records_total{from="A",node="C",result="stored"}`: 4,
	})
	b := balance(before, after)
	if b.Published != 14 || b.Received != 13 {
		t.Errorf("published %v, received %v; want 14, 13", b.Published, b.Received)
	}
	if len(b.Unequal) != 1 || b.Unequal[0] != (EdgeBalance{From: "A", To: "B", Published: 10, Received: 9}) {
		t.Errorf("unequal edges %+v, want A -> B 10 against 9", b.Unequal)
	}
}

// A run against a herd with monitor ports reports the flood balance after
// verification: every record published to a neighbor was received there,
// and nothing was dropped or repaired after the load.
func TestRun_floodBalance(t *testing.T) {
	ds, err := offline.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	h := nodetest.Start(t, nodetest.Line3, nodetest.WithConfig(func(name string, c *node.Config) {
		c.Places = offline.NewWithDataset(ds)
		nodetest.Monitor(name, c)
	}))
	nodes := []*node.Node{h.Node("A"), h.Node("B"), h.Node("C")}
	cfg := testConfig(nodes)
	for _, n := range nodes {
		cfg.MetricsURLs = append(cfg.MetricsURLs, n.MonitorURL())
	}
	cfg.Count = 3000
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := res.Balance
	if b == nil || res.Herd == nil {
		t.Fatalf("no flood balance or herd stats (herd error %q)", res.HerdError)
	}
	// A line of three: each record goes A→B→C or C→B→A, or from B to both.
	if b.Published < float64(res.IAMAT) || b.Published != b.Received || len(b.Unequal) != 0 {
		t.Errorf("balance %+v for %d IAMATs: want every published record received", b, res.IAMAT)
	}
	if b.Late == nil || len(b.Late.Dropped) != 0 {
		t.Errorf("late counters %+v, want none dropped", b.Late)
	}
}
