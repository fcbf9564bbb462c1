package store

import (
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// Settled records.
//
// A record is settled once its origin time (record.OriginNanos: when its
// origin received the IAMAT, the same on every node) is before the
// store's cursor, which anti-entropy moves forward with the clock, a few
// seconds behind it. The settled digests hash, for each client, the last
// of its records that settled here; a record still in flight by the flood
// leaves them unchanged. Two nodes at the same cursor that received the
// same records therefore hold equal settled digests even while floods are
// under way, and anti-entropy comparing them exchanges only what a node
// really missed.
//
// A record stored already settled (a repair, a late flood, records loaded
// at start once the cursor moved) counts at once; any other waits in its
// shard's pending list for the second of its origin time until Settle
// passes it.

// SettleCursor returns the settled cutoff: records whose origin time is
// before it count in the settled digests.
func (s *Store) SettleCursor() int64 {
	sh := &s.shards[0]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.cursor
}

// Settle moves the settled cutoff forward to cutoff (Unix ns) and counts
// the records it passes in the settled digests. It never moves it back.
func (s *Store) Settle(cutoff int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.advance(cutoff)
		sh.mu.Unlock()
	}
}

func (sh *shard) advance(cutoff int64) {
	if cutoff <= sh.cursor {
		return
	}
	sh.cursor = cutoff
	last := floorSec(cutoff - 1) // the last second that starts before the cutoff
	var due []int64
	for sec := range sh.pending {
		if sec <= last {
			due = append(due, sec)
		}
	}
	for _, sec := range due {
		keys := sh.pending[sec]
		delete(sh.pending, sec)
		for _, key := range keys {
			sh.settleKey(key, cutoff)
		}
	}
}

// settleKey settles the current record of the client(s) with key when it
// is before cutoff, and queues it again by its origin time otherwise.
func (sh *shard) settleKey(key uint64, cutoff int64) {
	t := &sh.buckets[digest.KeyBucket(key)%digest.GroupSize]
	mask := len(t.slots) - 1
	for i := int(key) & mask; t.slots[i].ref != 0; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.key != key || sl.ref&queuedBit == 0 {
			continue
		}
		r, _ := sh.slab.record(sl.ref)
		on, ok := r.OriginNanos()
		if !ok || on < cutoff {
			sl.ref &^= queuedBit
			sh.settle(t, sl, sl.hash)
			continue
		}
		sec := floorSec(on)
		sh.pending[sec] = append(sh.pending[sec], key)
	}
}

// settle makes h, the hash of sl's current record, the one counted in the
// settled sums for sl's client.
func (sh *shard) settle(t *table, sl *slot, h uint64) {
	delta := sl.settled ^ h
	sl.settled = h
	t.settled ^= delta
	sh.settled ^= delta
}

// floorSec is the second (rounded down) of a time in Unix ns.
func floorSec(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 < 0 {
		s--
	}
	return s
}

// SettledGroupSums returns the settled digest of every group.
func (s *Store) SettledGroupSums() (sums [digest.Groups]uint64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		sums[i] = sh.settled
		sh.mu.RUnlock()
	}
	return sums
}

// SettledBucketSums returns the settled digests of group g's buckets; all
// zero when g is out of range.
func (s *Store) SettledBucketSums(g int) (sums [digest.GroupSize]uint64) {
	if g < 0 || g >= digest.Groups {
		return sums
	}
	sh := &s.shards[g]
	sh.mu.RLock()
	for i := range sh.buckets {
		sums[i] = sh.buckets[i].settled
	}
	sh.mu.RUnlock()
	return sums
}

// AppendSettled appends the records of bucket b whose origin time is
// before cutoff: the records a settled exchange swaps.
func (s *Store) AppendSettled(dst []record.Record, b int, cutoff int64) []record.Record {
	return s.appendBucket(dst, b, cutoff, true)
}
