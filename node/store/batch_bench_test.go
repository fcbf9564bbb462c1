package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/herdhq/herd/bus/record"
)

// BenchmarkStore_PutHerd is the default herd's five stores in one
// process, 100,000 clients each, as the flood feeds them: messages of
// `msg` records, each record reaching every store twice (by both sides
// of a triangle; the second copy a few messages later, in another
// message), the stores taking turns. ns/op is per delivered record, both
// copies together. "seq" puts a message's records one by one
// (PutView), "batch" a message at once (PutViews).
func BenchmarkStore_PutHerd(b *testing.B) {
	for _, msg := range []int{4, 16, 64} {
		for _, mode := range []string{"seq", "batch"} {
			b.Run(fmt.Sprintf("msg=%d/%s", msg, mode), func(b *testing.B) {
				benchHerd(b, msg, mode == "batch")
			})
		}
	}
}

func benchHerd(b *testing.B, msg int, batch bool) {
	const stores, clients, round, lagMsgs = 5, 100_000, 1 << 15, 4
	name := func(c int) string { return fmt.Sprintf("client%06d.cs.ucla.edu", c) }
	ss := make([]*Store, stores)
	for i := range ss {
		ss[i] = New()
		ss[i].Reserve(clients)
		for c := range clients {
			ss[i].Put(rec(b, "Goloman", name(c), "+34.068930-118.445127", "1621464827.959498503"))
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([]record.Record, round)
	r := 0
	fill := func() {
		r++
		for i := range recs {
			recs[i] = rec(b, "Hands", name(rng.IntN(clients)), "+34.068930-118.445127", fmt.Sprintf("%d.%09d", 1621464828+r, i))
		}
		for _, s := range ss {
			s.Settle(int64(1621464828+r-3) * 1e9)
		}
	}
	fill()
	buf := make([]record.Record, msg)
	newer := make([]bool, msg)
	put := func(s *Store, m []record.Record) {
		if !batch {
			for _, r := range m {
				s.PutView(r)
			}
			return
		}
		copy(buf, m)
		s.PutViews(buf[:len(m)], newer[:len(m)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	// Message k carries recs[k*msg:(k+1)*msg] to every store, then the
	// second copy of message k-lagMsgs.
	k, msgs := 0, round/msg
	for n := 0; n < b.N; n += 2 * msg * stores {
		if k == msgs {
			b.StopTimer()
			fill()
			k = 0
			b.StartTimer()
		}
		for _, s := range ss {
			put(s, recs[k*msg:(k+1)*msg])
			if k >= lagMsgs {
				put(s, recs[(k-lagMsgs)*msg:(k-lagMsgs+1)*msg])
			}
		}
		k++
	}
}
