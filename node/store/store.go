// Package store keeps the newest record of every client. It is sharded so
// that many connections and the flood can write at once without contending
// on one lock, and it keeps the anti-entropy digests (package bus/digest)
// up to date on every Put, so that a digest costs no scan of the records.
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
}

type shard struct {
	mu      sync.RWMutex // guards buckets and sum
	buckets [digest.GroupSize]bucket
	sum     uint64   // XOR of the buckets' sums: the group's digest
	_       [40]byte // keep shards' locks on separate cache lines
}

type bucket struct {
	m   map[string]entry // made on first Put
	sum uint64           // XOR of the entries' hashes
}

// entry is a record and its digest hash, kept so that replacing the record
// does not hash the old one again.
type entry struct {
	rec  record.Record
	hash uint64
}

// New returns an empty store.
func New() *Store { return &Store{} }

func (s *Store) locate(client string) (*shard, *bucket) {
	b := digest.Bucket(client)
	sh := &s.shards[digest.Group(b)]
	return sh, &sh.buckets[b%digest.GroupSize]
}

// Put stores r if it is newer than the client's current record and reports
// whether it did. The flood relays a record only when Put returns true.
func (s *Store) Put(r record.Record) bool {
	_, newer := s.put(r, false)
	return newer
}

// PutView is Put for a record whose Line may alias a buffer the caller
// reuses (record.ParseView): it copies the record only when it is newer
// and stored, and returns that copy. A duplicate costs no allocation.
func (s *Store) PutView(r record.Record) (record.Record, bool) {
	return s.put(r, true)
}

// put stores r if newer, cloning it first when it is a view, and keeps
// the bucket and group digests up to date.
func (s *Store) put(r record.Record, view bool) (record.Record, bool) {
	client := r.Client()
	sh, bk := s.locate(client)
	sh.mu.Lock()
	old, ok := bk.m[client]
	if ok && !record.Newer(r, old.rec) {
		sh.mu.Unlock()
		return record.Record{}, false
	}
	if view {
		r = r.Clone()
	}
	h := digest.Hash(r)
	if bk.m == nil {
		bk.m = make(map[string]entry)
	}
	// The key aliases r.Line (never a caller's buffer: a view was cloned),
	// so a record costs one allocation.
	bk.m[r.Client()] = entry{rec: r, hash: h}
	delta := h
	if ok {
		delta ^= old.hash
	}
	bk.sum ^= delta
	sh.sum ^= delta
	sh.mu.Unlock()
	return r, true
}

// Get returns the newest record of client.
func (s *Store) Get(client string) (record.Record, bool) {
	sh, bk := s.locate(client)
	sh.mu.RLock()
	e, ok := bk.m[client]
	sh.mu.RUnlock()
	return e.rec, ok
}

// Len returns the number of clients held.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for j := range sh.buckets {
			n += len(sh.buckets[j].m)
		}
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
			for _, e := range sh.buckets[j].m {
				if !fn(e.rec) {
					sh.mu.RUnlock()
					return
				}
			}
		}
		sh.mu.RUnlock()
	}
}

// GroupSums returns the digest of every group.
func (s *Store) GroupSums() (sums [digest.Groups]uint64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		sums[i] = sh.sum
		sh.mu.RUnlock()
	}
	return sums
}

// BucketSums returns the digests of group g's buckets; all zero when g is
// out of range.
func (s *Store) BucketSums(g int) (sums [digest.GroupSize]uint64) {
	if g < 0 || g >= digest.Groups {
		return sums
	}
	sh := &s.shards[g]
	sh.mu.RLock()
	for i := range sh.buckets {
		sums[i] = sh.buckets[i].sum
	}
	sh.mu.RUnlock()
	return sums
}

// AppendBucket appends the records of bucket b to dst; nothing when b is
// out of range.
func (s *Store) AppendBucket(dst []record.Record, b int) []record.Record {
	if b < 0 || b >= digest.Buckets {
		return dst
	}
	sh := &s.shards[digest.Group(b)]
	sh.mu.RLock()
	for _, e := range sh.buckets[b%digest.GroupSize].m {
		dst = append(dst, e.rec)
	}
	sh.mu.RUnlock()
	return dst
}
