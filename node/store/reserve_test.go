package store

import (
	"fmt"
	"testing"
)

// tableSizes returns the slot count of every table.
func tableSizes(s *Store) []int {
	var sizes []int
	for i := range s.shards {
		for j := range s.shards[i].buckets {
			sizes = append(sizes, len(s.shards[i].buckets[j].slots))
		}
	}
	return sizes
}

// grown counts the tables larger in after than in before.
func grown(before, after []int) int {
	n := 0
	for i := range before {
		if after[i] > before[i] {
			n++
		}
	}
	return n
}

// Reserve(n) makes room for n clients: putting them grows hardly any
// table (a bucket's share is random: room for three standard deviations
// above the mean leaves a few in a thousand to grow), where without it
// every table grows; and the store holds and sums exactly what a store
// without Reserve does.
func TestStore_Reserve(t *testing.T) {
	const n = 50_000
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf("c%d", i)
	}
	fill := func(s *Store) {
		for i, c := range recs {
			s.Put(rec(t, "Hands", c, "+1+1", fmt.Sprint(100+i)))
		}
	}
	plain, reserved := New(), New()
	reserved.Reserve(n)
	before := tableSizes(reserved)
	fill(plain)
	fill(reserved)
	if g := grown(before, tableSizes(reserved)); g > len(before)/100 {
		t.Errorf("%d of %d tables grew after Reserve; want at most 1%%", g, len(before))
	}
	if g := grown(tableSizes(New()), tableSizes(plain)); g != len(before) {
		t.Errorf("%d of %d tables grew without Reserve; want all", g, len(before))
	}
	if plain.Len() != n || reserved.Len() != n {
		t.Fatalf("Len = %d and %d; want %d", plain.Len(), reserved.Len(), n)
	}
	if plain.GroupSums() != reserved.GroupSums() {
		t.Fatal("digests differ with Reserve")
	}
	for _, c := range recs[:100] {
		a, _ := plain.Get(c)
		b, ok := reserved.Get(c)
		if !ok || a.Line != b.Line {
			t.Fatalf("Get(%s) = %q, %v; want %q", c, b.Line, ok, a.Line)
		}
	}
	// Reserve on a filled store keeps its records.
	reserved.Reserve(n)
	if reserved.Len() != n || plain.GroupSums() != reserved.GroupSums() {
		t.Fatal("Reserve on a filled store changed it")
	}
	reserved.Reserve(0)
	reserved.Reserve(-1)
}
