package store

import (
	"math"

	"github.com/herdhq/herd/bus/digest"
)

// Reserve makes room for about n more clients, so that putting them grows
// no table: a restart calls it with the size of the snapshot it is about
// to put (one record per client). Growing a table rehashes every client
// in it, and a store filled from empty would grow each table a dozen
// times on the way to a million clients. It changes no record and no
// digest; more clients than n just grow the tables as Put does.
func (s *Store) Reserve(n int) {
	if n <= 0 {
		return
	}
	// A bucket's share of n clients is binomial around n/Buckets: room for
	// three standard deviations above it leaves few buckets to grow, at
	// the table's usual fill (between 7/12 and 7/8 of its slots).
	per := float64(n) / digest.Buckets
	extra := int(per + 3*math.Sqrt(per) + 1)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j := range sh.buckets {
			sh.buckets[j].reserve(extra)
		}
		sh.mu.Unlock()
	}
}
