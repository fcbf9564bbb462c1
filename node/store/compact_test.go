package store

import (
	"fmt"
	"slices"
	"testing"
)

// Under an even churn the shards of a store do not all compact at once:
// each slab's threshold is skewed (slab.skew), so their first compactions
// spread over about half a churn cycle. With every skew 0 they come within
// a few per cent of one another (the per-shard share of a uniform churn
// varies little), which is what held both cores for tens of milliseconds
// in the herd.
func TestStore_CompactionsSpread(t *testing.T) {
	s := New()
	const clients = 1 << 17
	// Long names put a shard's live bytes well above the 64 KiB floor, so
	// the threshold decides.
	pad := fmt.Sprintf("%0160d", 0)
	name := func(i int) string { return fmt.Sprintf("client-%06d-%s", i, pad) }
	for i := range clients {
		s.PutView(at(t, name(i), 1000, 1))
	}
	var used [len(s.shards)]int
	for g := range s.shards {
		used[g] = s.shards[g].slab.used
	}
	first := make(map[int]int) // shard -> churn put of its first compaction
	for n := 0; len(first) < len(s.shards); n++ {
		if n > clients {
			t.Fatalf("after %d updates only %d of %d shards compacted", n, len(first), len(s.shards))
		}
		// Update clients in a scattered order: each shard gets an even
		// share of the churn.
		i := n * 40503 % clients
		s.PutView(at(t, name(i), 1001, 2))
		if n%32 != 0 {
			continue
		}
		for g := range s.shards {
			if _, ok := first[g]; !ok && s.shards[g].slab.used < used[g] {
				first[g] = n
			}
			used[g] = s.shards[g].slab.used
		}
	}
	at := make([]int, 0, len(first))
	for _, n := range first {
		at = append(at, n)
	}
	slices.Sort(at)
	median := at[len(at)/2]
	spread := float64(at[len(at)-1]-at[0]) / float64(median)
	t.Logf("first compactions after %d to %d updates (median %d): spread %.0f%% of the median", at[0], at[len(at)-1], median, 100*spread)
	if spread < 0.30 {
		t.Errorf("first compactions within %.0f%% of the median update count: the shards compact together", 100*spread)
	}
}
