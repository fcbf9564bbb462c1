// Package store keeps the newest record of every client. It is sharded so
// that many connections and the flood can write at once without contending
// on one lock.
package store

import (
	"hash/maphash"
	"sync"

	"github.com/herdhq/herd/bus/record"
)

// shards is a power of two comfortably above the core count, so that
// concurrent writers rarely meet on one lock.
const shards = 64

// Store maps client names to their newest record. The zero value is not
// usable; call New.
type Store struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu sync.RWMutex // guards m
	m  map[string]record.Record
	_  [40]byte // keep shards on separate cache lines
}

// New returns an empty store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]record.Record)
	}
	return s
}

func (s *Store) shard(client string) *shard {
	return &s.shards[maphash.String(s.seed, client)&(shards-1)]
}

// Put stores r if it is newer than the client's current record and reports
// whether it did. The flood relays a record only when Put returns true.
func (s *Store) Put(r record.Record) bool {
	client := r.Client()
	sh := s.shard(client)
	sh.mu.Lock()
	old, ok := sh.m[client]
	if ok && !record.Newer(r, old) {
		sh.mu.Unlock()
		return false
	}
	// The key aliases r.Line, so a record costs one allocation.
	sh.m[client] = r
	sh.mu.Unlock()
	return true
}

// PutView is Put for a record whose Line may alias a buffer the caller
// reuses (record.ParseView): it copies the record only when it is newer
// and stored, and returns that copy. A duplicate costs no allocation.
func (s *Store) PutView(r record.Record) (record.Record, bool) {
	client := r.Client()
	sh := s.shard(client)
	sh.mu.Lock()
	old, ok := sh.m[client]
	if ok && !record.Newer(r, old) {
		sh.mu.Unlock()
		return record.Record{}, false
	}
	r = r.Clone()
	// The key must alias the copy, never the caller's buffer.
	sh.m[r.Client()] = r
	sh.mu.Unlock()
	return r, true
}

// Get returns the newest record of client.
func (s *Store) Get(client string) (record.Record, bool) {
	sh := s.shard(client)
	sh.mu.RLock()
	r, ok := sh.m[client]
	sh.mu.RUnlock()
	return r, ok
}

// Len returns the number of clients held.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
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
		for _, r := range sh.m {
			if !fn(r) {
				sh.mu.RUnlock()
				return
			}
		}
		sh.mu.RUnlock()
	}
}
