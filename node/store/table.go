package store

import "github.com/herdhq/herd/bus/record"

// table is one digest bucket's index: open addressing with linear
// probing over slots keyed by the client's hash (digest.Key; its top bits
// chose the bucket, its low 32 bits are kept). Records are never removed,
// so there are no tombstones. A table grows by half when 7/8 full (not
// by powers of two, which leave big tables half empty), and a key's first
// slot is its 32 bits scaled to the table's length.
type table struct {
	slots   []slot
	n       int    // occupied slots
	sum     uint64 // XOR of the slots' hash: the bucket's digest
	settled uint64 // XOR of the slots' settled hash
}

// slot is one client: 32 bytes, pointer-free, so that two slots share a
// 64-byte cache line and none straddles two (a probe that starts at a
// slot touches one line, and the next slots of its probe are in it or
// the line after).
type slot struct {
	// kr is the low 32 bits of the client's key above the slot's flags
	// (queuedBit, which hash is settled: settledMask) and its ref (the
	// record in the shard's slab, refMask); 0 is an empty slot.
	kr       uint64
	hash     uint64 // digest.Hash of the current record
	prevHash uint64 // digest.Hash of the record it replaced; 0: none
	// curSec and prevSec are the origin times (Unix seconds, clamped) of
	// the current and the previous record (settle.go).
	curSec, prevSec uint32
}

// The flags above a slot's ref. queuedBit: the client has an entry in
// its shard's pending lists. settledMask: which of the slot's hashes
// counts in the settled sums (settle.go) — none, hash or prevHash; the
// settled hash is always one of them, so two bits stand for the 8 bytes
// it would take.
const (
	queuedBit      = 1 << 31
	settledShift   = 29
	settledMask    = 3 << settledShift
	settledNone    = 0
	settledCurrent = 1
	settledPrev    = 2
)

func (s *slot) key32() uint32 { return uint32(s.kr >> 32) }
func (s *slot) ref() uint32   { return uint32(s.kr) & refMask }
func (s *slot) queued() bool  { return s.kr&queuedBit != 0 }

// settled is the hash the slot counts in the settled sums; 0: none.
func (s *slot) settled() uint64 {
	switch s.kr & settledMask >> settledShift {
	case settledCurrent:
		return s.hash
	case settledPrev:
		return s.prevHash
	}
	return 0
}

// lookup probes t once for client (key: the low bits of its
// digest.Key) with a record hashing to h. It returns the client's slot,
// record and the bytes the record takes in the slab when t holds it
// (found), or else the free slot where it goes; dup when the slot holds
// a record hashing to h: an equal record (the hash covers the name, and
// what record.Compare orders by), recognised without reading its line —
// the flood's duplicates, half of what a node receives.
func (t *table) lookup(key uint32, h uint64, client string, sl *slab) (i int, r record.Record, n int, found, dup bool) {
	if t.slots == nil {
		return 0, r, 0, false, false
	}
	for i = t.home(key); ; i = t.next(i) {
		s := &t.slots[i]
		switch {
		case s.kr == 0:
			return i, r, 0, false, false
		case s.key32() != key:
		case s.hash == h:
			return i, r, 0, true, true
		default:
			if r, n = sl.record(s.ref()); r.Client() == client {
				return i, r, n, true, false
			}
		}
	}
}

// find returns the slot of client (key: the low bits of its digest.Key),
// its record and the bytes the record takes in the slab, or false.
func (t *table) find(key uint32, client string, sl *slab) (i int, r record.Record, n int, ok bool) {
	if t.slots == nil {
		return 0, r, 0, false
	}
	for i = t.home(key); ; i = t.next(i) {
		s := &t.slots[i]
		switch {
		case s.kr == 0:
			return i, r, 0, false
		case s.key32() == key:
			if r, n = sl.record(s.ref()); r.Client() == client {
				return i, r, n, true
			}
		}
	}
}

// insert takes free slot i, which lookup returned for a client (key)
// not in t, growing t first when it is 7/8 full, and returns the slot
// the client takes.
func (t *table) insert(i int, key uint32) int {
	if (t.n+1)*8 > len(t.slots)*7 {
		t.grow()
		for i = t.home(key); t.slots[i].kr != 0; i = t.next(i) {
		}
	}
	t.n++
	return i
}

// home is key's first slot.
func (t *table) home(key uint32) int { return int(uint64(key) * uint64(len(t.slots)) >> 32) }

// next is the slot after i, wrapping around.
func (t *table) next(i int) int {
	if i++; i == len(t.slots) {
		return 0
	}
	return i
}

func (t *table) grow() { t.resize(max(4, len(t.slots)+len(t.slots)/2)) }

// reserve grows t, if need be, so that n more clients fit without growing.
func (t *table) reserve(n int) {
	if want := (t.n+n)*8/7 + 1; want > len(t.slots) {
		t.resize(want)
	}
}

// resize moves t's slots into a table of size slots.
func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]slot, size)
	for _, s := range old {
		if s.kr == 0 {
			continue
		}
		i := t.home(s.key32())
		for t.slots[i].kr != 0 {
			i = t.next(i)
		}
		t.slots[i] = s
	}
}
