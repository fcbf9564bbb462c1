package store

import (
	"math/bits"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// Batches.
//
// A store far larger than the caches spends a put mostly waiting on
// memory: the recent filter's entry, the client's slot, the line of its
// current record in the slab — misses one after the other, each address
// known only once the one before arrived. A single put cannot overlap
// them; the records of one flood message can. PutViews issues each kind
// of load for all the records of a batch before it uses any (memory-level
// parallelism: independent loads overlap in an out-of-order core), then
// puts the records in order, their slots and lines in cache.

// batchMax bounds the records PutViews takes at once: its scratch lives on
// the stack, and the shard locks of one batch are held together.
const batchMax = 64

// PutViews is PutView for each of recs in order, with the same outcome:
// newer[i] reports whether recs[i] was stored, and then recs[i] is
// replaced by the stored record, whose Line aliases the store's slab; a
// record not stored is left as it was. A later record of the same client
// is compared with what the earlier ones left. newer must be at least as
// long as recs.
func (s *Store) PutViews(recs []record.Record, newer []bool) {
	newer = newer[:len(recs)]
	for len(recs) > batchMax {
		s.putBatch(recs[:batchMax], newer[:batchMax])
		recs, newer = recs[batchMax:], newer[batchMax:]
	}
	s.putBatch(recs, newer)
}

// putBatch is PutViews for at most batchMax records. It holds the locks
// of every shard the batch touches while it puts, taken in shard order
// (no other path holds two shard locks, so none waits on another in a
// cycle): no other writer comes between two records of the batch, and
// the loads warm issues stay valid until they are used.
func (s *Store) putBatch(recs []record.Record, newer []bool) {
	var hs, keys [batchMax]uint64
	for i, r := range recs {
		hs[i] = digest.Hash(r)
	}
	// The filter's entries, independent atomic loads (plain moves); a
	// record it recognises is not put (put's reasoning).
	var shards uint64
	for i := range recs {
		newer[i] = !s.recent.has(hs[i])
	}
	for i, r := range recs {
		if newer[i] {
			keys[i] = digest.Key(r.Client())
			shards |= 1 << digest.Group(digest.KeyBucket(keys[i]))
		}
	}
	if shards == 0 {
		return
	}
	for m := shards; m != 0; m &= m - 1 {
		s.shards[bits.TrailingZeros64(m)].mu.Lock()
	}
	s.warm(newer, hs[:len(recs)], keys[:len(recs)])
	for i, r := range recs {
		if !newer[i] {
			continue
		}
		var st record.Record
		if st, newer[i] = s.putLocked(r, hs[i], keys[i]); newer[i] {
			recs[i] = st
		}
	}
	for m := shards; m != 0; m &= m - 1 {
		s.shards[bits.TrailingZeros64(m)].mu.Unlock()
	}
}

// warm loads, for each record todo (hashing to hs[i], of a client with
// keys[i]), its client's first slot, and then the first byte of the line
// that lookup will read — the record in the client's slot unless the
// slot recognises a duplicate — each kind of load for every record
// before the next kind. It changes nothing; it returns the sum of what it
// loaded so that the compiler keeps the loads. The caller holds the
// records' shard locks.
//
//go:noinline
func (s *Store) warm(todo []bool, hs, keys []uint64) uint64 {
	var acc uint64
	for i, key := range keys {
		if _, t := s.locate(key); todo[i] && len(t.slots) > 0 {
			acc += t.slots[t.home(uint32(key))].kr
		}
	}
	for i, key := range keys {
		sh, t := s.locate(key)
		if !todo[i] || len(t.slots) == 0 {
			continue
		}
		k32 := uint32(key)
		for j := t.home(k32); t.slots[j].kr != 0; j = t.next(j) {
			if sl := &t.slots[j]; sl.key32() == k32 {
				if sl.hash != hs[i] {
					acc += sh.slab.touch(sl.ref())
				}
				break
			}
		}
	}
	return acc
}
