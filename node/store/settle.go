package store

import (
	"math"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// Settled records.
//
// A record is settled once its origin second (record.OriginNanos: when
// its origin received the IAMAT, the same on every node) is before the
// store's cursor, which anti-entropy moves forward with the clock, a few
// seconds behind it. The settled digests count, for each client, its
// current record if that is settled, else the record it replaced if that
// one is (a record still in flight by the flood has usually replaced a
// settled one here and not yet elsewhere), else nothing. That is a
// function of the client's last two records and the cursor alone, so two
// nodes at the same cursor that received the same records hold equal
// settled digests whenever they look, even while floods are under way;
// anti-entropy comparing them exchanges only what a node really missed.
//
// The settled hash of a client changes only when the cursor passes the
// origin second of its current or previous record: the client then waits
// in its shard's pending list for that second (once, or twice for a while
// when a newer record's origin second is before the replaced one's).

// originSec is the origin second of r, clamped to uint32; 0 (settled at
// any cursor) when its origin time does not fit in an int64.
func originSec(r record.Record) uint32 {
	ns, ok := r.OriginNanos()
	if !ok || ns < 0 {
		return 0
	}
	return uint32(min(ns/1e9, math.MaxUint32))
}

// settledHash is the hash a client counts in the settled sums at cursor.
func (sl *slot) settledHash(cursor uint32) uint64 {
	switch {
	case sl.curSec < cursor:
		return sl.hash
	case sl.prevHash != 0 && sl.prevSec < cursor:
		return sl.prevHash
	}
	return 0
}

// nextChange is the first second at or after cursor at which sl's
// settled hash may change, or false when it no longer will.
func (sl *slot) nextChange(cursor uint32) (uint32, bool) {
	next, ok := uint32(0), false
	if sl.curSec >= cursor {
		next, ok = sl.curSec, true
	}
	if sl.prevHash != 0 && sl.prevSec >= cursor && (!ok || sl.prevSec < next) {
		next, ok = sl.prevSec, true
	}
	return next, ok
}

// resettle counts sl's settled hash at the shard's cursor instead of was,
// the hash it counted so far (which a Put may just have replaced in the
// slot), and queues its client (key) for the next change unless it is
// queued already for that second or an earlier one (queuedAt: the second
// it is queued for, when it is).
func (sh *shard) resettle(t *table, sl *slot, key uint64, was uint64, queuedAt uint32) {
	state := uint64(settledNone)
	switch h := sl.settledHash(sh.cursor); {
	case h == 0:
	case h == sl.hash:
		state = settledCurrent
	default:
		state = settledPrev
	}
	sl.kr = sl.kr&^settledMask | state<<settledShift
	if h := sl.settled(); h != was {
		delta := was ^ h
		t.settled ^= delta
		sh.settled ^= delta
	}
	sec, ok := sl.nextChange(sh.cursor)
	if !ok || sl.queued() && sec >= queuedAt {
		return
	}
	// Not queued, or queued for a later second than the new record's
	// settled hash changes at: a newer record may have an earlier origin
	// time than the one it replaced (the origins' clocks differ, or the
	// client's went back). The entry of the later second stays, and finds
	// the client queued again or settles nothing.
	sl.kr |= queuedBit
	sh.pending.add(sh.cursor, sec, key)
}

// queuedAt is the second sl's client is queued for (math.MaxUint32 when
// that cannot be told), or 0 when it is not queued.
func (sh *shard) queuedAt(sl *slot) uint32 {
	if !sl.queued() {
		return 0
	}
	if sec, ok := sl.nextChange(sh.cursor); ok {
		return sec
	}
	return math.MaxUint32
}

// cutoffSec is a cutoff in Unix ns as a cursor: the whole seconds before
// it (a second that starts before the cutoff but ends after it is not).
func cutoffSec(cutoff int64) uint32 {
	if cutoff < 0 {
		return 0
	}
	return uint32(min(cutoff/1e9, math.MaxUint32))
}

// SettleCursor returns the settled cutoff (Unix ns): records whose origin
// time is before it count in the settled digests.
func (s *Store) SettleCursor() int64 {
	sh := &s.shards[0]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return int64(sh.cursor) * 1e9
}

// Settle moves the settled cutoff forward to cutoff (Unix ns, rounded
// down to a whole second) and counts the records it passes in the settled
// digests. It never moves it back.
func (s *Store) Settle(cutoff int64) {
	c := cutoffSec(cutoff)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.advance(c)
		sh.mu.Unlock()
	}
}

func (sh *shard) advance(cursor uint32) {
	if cursor <= sh.cursor {
		return
	}
	from := sh.cursor
	sh.cursor = cursor
	sh.pending.due(from, cursor, sh.settleKey)
}

// settleKey recounts the queued client(s) with key at the cursor.
func (sh *shard) settleKey(key uint64) {
	t := &sh.buckets[digest.KeyBucket(key)%digest.GroupSize]
	k32 := uint32(key)
	for i := t.home(k32); t.slots[i].kr != 0; i = t.next(i) {
		if sl := &t.slots[i]; sl.key32() == k32 && sl.queued() {
			sl.kr &^= queuedBit
			sh.resettle(t, sl, key, sl.settled(), 0)
		}
	}
}

// SettledGroupSums returns the settled digest of every group.
func (s *Store) SettledGroupSums() [digest.Groups]uint64 { return s.groupSums(true) }

// SettledBucketSums returns the settled digests of group g's buckets; all
// zero when g is out of range.
func (s *Store) SettledBucketSums(g int) [digest.GroupSize]uint64 { return s.bucketSums(g, true) }

// AppendSettled appends the records of bucket b whose origin time is
// before cutoff (rounded down to a whole second): the records a settled
// exchange swaps.
func (s *Store) AppendSettled(dst []record.Record, b int, cutoff int64) []record.Record {
	return s.appendBucket(dst, b, cutoffSec(cutoff), true)
}
