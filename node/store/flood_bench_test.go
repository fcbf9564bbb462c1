package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/herdhq/herd/bus/record"
)

// BenchmarkStore_PutFlood is a node's store in the herd with a million
// clients: every operation is a newer record of a random client (it
// replaces the client's record), and the same record again 4096
// operations later, as the flood's second path brings it (a duplicate).
// The store is far larger than the caches, so each put pays the misses
// the herd pays; ns/op is per put, both kinds together, and includes the
// settling of the records as the cursor passes them.
func BenchmarkStore_PutFlood(b *testing.B) {
	const clients, batch, lag = 1_000_000, 1 << 16, 4096
	s := New()
	s.Reserve(clients)
	name := func(c int) string { return fmt.Sprintf("client%07d.cs.ucla.edu", c) }
	for c := range clients {
		s.Put(rec(b, "Goloman", name(c), "+34.068930-118.445127", "1621464827.959498503"))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([]record.Record, batch)
	round := 0
	// Each batch is a second later, and the settled cursor follows three
	// seconds behind, as anti-entropy moves it.
	fill := func() {
		round++
		for i := range recs {
			recs[i] = rec(b, "Hands", name(rng.IntN(clients)), "+34.068930-118.445127", fmt.Sprintf("%d.%09d", 1621464828+round, i))
		}
		s.Settle(int64(1621464828+round-3) * 1e9)
	}
	fill()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for n := 0; n < b.N; n += 2 {
		if i == batch {
			b.StopTimer()
			fill()
			i = 0
			b.StartTimer()
		}
		s.PutView(recs[i])
		if i >= lag {
			s.PutView(recs[i-lag])
		}
		i++
	}
}
