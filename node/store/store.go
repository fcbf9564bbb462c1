// Package store keeps the newest record of every client. It is sharded so
// that many connections and the flood can write at once without contending
// on one lock, and it keeps the anti-entropy digests (package bus/digest)
// up to date on every Put, so that a digest costs no scan of the records.
//
// The store is pointer-free per record: the AT lines live in byte slabs
// (slab.go) and each digest bucket indexes its clients in an
// open-addressing table of fixed-size slots keyed by the client's hash
// (table.go). A million clients are a few thousand allocations that the
// garbage collector does not scan, and a lookup costs a probe in one
// small table and one read of the line.
//
// Besides the digests of all records, the store keeps digests of the
// settled records only (settle.go): anti-entropy compares those while the
// herd is busy, so that records the flood is still delivering do not count
// as differences.
package store

import (
	"sync"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// Store maps client names to their newest record. The zero value is not
// usable; call New.
//
// A shard is one digest group: shard g holds buckets g*GroupSize ..
// (g+1)*GroupSize-1, so a Put updates its bucket's and its group's sums
// under the one shard lock it takes anyway. digest.Groups (64) is a power
// of two comfortably above the core count, so writers rarely meet.
type Store struct {
	shards [digest.Groups]shard
	recent recent // hashes of the records stored lately (recent.go)
}

type shard struct {
	mu      sync.RWMutex // guards everything below
	buckets [digest.GroupSize]table
	slab    slab   // the lines of this shard's records
	n       int    // records held
	sum     uint64 // XOR of the buckets' sums: the group's digest
	settled uint64 // XOR of the buckets' settled sums
	// cursor is the settled cutoff in Unix seconds: a record whose origin
	// second is before it is settled. Settle moves it forward.
	cursor uint32
	// pending holds, by origin second, the keys of clients whose settled
	// hash changes when the cursor passes that second (settle.go): one
	// entry a client, two for a while after an origin time went back.
	pending pending
	_       [40]byte // keep shards' locks on separate cache lines
}

// New returns an empty store. No record is settled until the first
// Settle.
func New() *Store {
	s := &Store{}
	for i := range s.shards {
		s.shards[i].slab.skew = newSkew()
	}
	return s
}

func (s *Store) locate(key uint64) (*shard, *table) {
	b := digest.KeyBucket(key)
	sh := &s.shards[digest.Group(b)]
	return sh, &sh.buckets[b%digest.GroupSize]
}

// Put stores r if it is newer than the client's current record and reports
// whether it did. The flood relays a record only when Put returns true.
func (s *Store) Put(r record.Record) bool {
	_, newer := s.put(r)
	return newer
}

// PutView is Put for a record whose Line may alias a buffer the caller
// reuses (record.ParseView): the store copies the line into its slab only
// when it is newer, and returns the stored record, whose Line aliases the
// slab. A duplicate costs no allocation, and a stored record none of its
// own either.
func (s *Store) PutView(r record.Record) (record.Record, bool) {
	return s.put(r)
}

// put stores r if newer and keeps the bucket and group digests, all and
// settled, up to date.
func (s *Store) put(r record.Record) (record.Record, bool) {
	// The hash first: a record equal to one stored lately (the flood's
	// duplicates, half of what a node receives) is recognised by it alone,
	// and one equal to the stored one by the slot, without reading its
	// line; nothing else is computed for it.
	h := digest.Hash(r)
	if s.recent.has(h) {
		return record.Record{}, false
	}
	key := digest.Key(r.Client())
	sh, _ := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s.putLocked(r, h, key)
}

// putLocked is put for a record hashing to h (digest.Hash) of a client
// with key (digest.Key), under the lock of its shard.
func (s *Store) putLocked(r record.Record, h, key uint64) (record.Record, bool) {
	client := r.Client()
	k32 := uint32(key)
	sh, t := s.locate(key)
	i, cur, n, found, dup := t.lookup(k32, h, client, &sh.slab)
	switch {
	case dup:
		return record.Record{}, false
	case found:
		if !record.Newer(r, cur) {
			return record.Record{}, false
		}
		sh.slab.live -= n
	default:
		i = t.insert(i, k32)
		sh.n++
	}
	sl := &t.slots[i]
	ref, line := sh.slab.add(r)
	s.recent.add(h)
	old := *sl
	*sl = slot{kr: uint64(k32)<<32 | uint64(ref) | old.kr&queuedBit, hash: h, curSec: originSec(r)}
	if found {
		sl.prevHash, sl.prevSec = old.hash, old.curSec
	}
	delta := h ^ old.hash
	t.sum ^= delta
	sh.sum ^= delta
	sh.resettle(t, sl, key, old.settled(), sh.queuedAt(&old))
	if sh.slab.wasteful() {
		sh.compact()
	}
	oe, cs, ce, le := r.Offsets()
	return record.Assemble(line, oe, cs, ce, le), true
}

// Get returns the newest record of client. Its Line aliases the store's
// slab and stays valid.
func (s *Store) Get(client string) (record.Record, bool) {
	key := digest.Key(client)
	sh, t := s.locate(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	_, r, _, ok := t.find(uint32(key), client, &sh.slab)
	return r, ok
}

// Len returns the number of clients held.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += sh.n
		sh.mu.RUnlock()
	}
	return n
}

// Range calls fn for every record until fn returns false. It holds one
// shard's read lock at a time, so fn must not call Put.
func (s *Store) Range(fn func(record.Record) bool) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for j := range sh.buckets {
			for _, sl := range sh.buckets[j].slots {
				if sl.kr == 0 {
					continue
				}
				if r, _ := sh.slab.record(sl.ref()); !fn(r) {
					sh.mu.RUnlock()
					return
				}
			}
		}
		sh.mu.RUnlock()
	}
}

// GroupSums returns the digest of every group.
func (s *Store) GroupSums() [digest.Groups]uint64 { return s.groupSums(false) }

// BucketSums returns the digests of group g's buckets; all zero when g is
// out of range.
func (s *Store) BucketSums(g int) [digest.GroupSize]uint64 { return s.bucketSums(g, false) }

// groupSums returns the digest of every group, of all records or of the
// settled ones.
func (s *Store) groupSums(settled bool) (sums [digest.Groups]uint64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		sums[i] = sh.sum
		if settled {
			sums[i] = sh.settled
		}
		sh.mu.RUnlock()
	}
	return sums
}

// bucketSums returns the digests of group g's buckets, of all records or
// of the settled ones.
func (s *Store) bucketSums(g int, settled bool) (sums [digest.GroupSize]uint64) {
	if g < 0 || g >= digest.Groups {
		return sums
	}
	sh := &s.shards[g]
	sh.mu.RLock()
	for i := range sh.buckets {
		sums[i] = sh.buckets[i].sum
		if settled {
			sums[i] = sh.buckets[i].settled
		}
	}
	sh.mu.RUnlock()
	return sums
}

// AppendBucket appends the records of bucket b to dst; nothing when b is
// out of range.
func (s *Store) AppendBucket(dst []record.Record, b int) []record.Record {
	return s.appendBucket(dst, b, 0, false)
}

func (s *Store) appendBucket(dst []record.Record, b int, cutoff uint32, settledOnly bool) []record.Record {
	if b < 0 || b >= digest.Buckets {
		return dst
	}
	sh := &s.shards[digest.Group(b)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, sl := range sh.buckets[b%digest.GroupSize].slots {
		if sl.kr == 0 || settledOnly && sl.curSec >= cutoff {
			continue
		}
		r, _ := sh.slab.record(sl.ref())
		dst = append(dst, r)
	}
	return dst
}

// compact copies the shard's live lines into fresh chunks.
func (sh *shard) compact() {
	fresh := slab{skew: newSkew()}
	fresh.reserve(sh.slab.live + sh.slab.live/4)
	for j := range sh.buckets {
		for k := range sh.buckets[j].slots {
			sl := &sh.buckets[j].slots[k]
			if sl.kr != 0 {
				sl.kr = sl.kr&^refMask | uint64(fresh.addRaw(&sh.slab, sl.ref()))
			}
		}
	}
	sh.slab = fresh
}
