package store

import "github.com/herdhq/herd/bus/record"

// table is one digest bucket's index: open addressing with linear
// probing over slots keyed by the client's hash (digest.Key). Records are
// never removed, so there are no tombstones.
type table struct {
	slots   []slot // length a power of two, or nil
	n       int    // occupied slots
	sum     uint64 // XOR of the slots' hash: the bucket's digest
	settled uint64 // XOR of the slots' settled hash
}

// slot is one client: fixed size and pointer-free.
type slot struct {
	key     uint64 // digest.Key of the client name
	ref     uint64 // the line in the shard's slab (0: empty), and queuedBit
	hash    uint64 // digest.Hash of the record
	settled uint64 // digest.Hash of the record counted in the settled sums; 0: none
}

// queuedBit in a slot's ref: the client has an entry in its shard's
// pending lists.
const queuedBit = 1 << 63

// find returns the slot of client (key is its digest.Key), its record
// and the bytes the record takes in the slab, or false.
func (t *table) find(key uint64, client string, sl *slab) (i int, r record.Record, n int, ok bool) {
	if t.slots == nil {
		return 0, r, 0, false
	}
	mask := len(t.slots) - 1
	for i = int(key) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		switch {
		case s.ref == 0:
			return i, r, 0, false
		case s.key == key:
			if r, n = sl.record(s.ref); r.Client() == client {
				return i, r, n, true
			}
		}
	}
}

// holds reports whether t has a slot of key whose record hashes to h:
// the same client (the hash covers the name) with a record equal under
// the order (digest.Hash covers what record.Compare orders by).
func (t *table) holds(key, h uint64) bool {
	if t.slots == nil {
		return false
	}
	mask := len(t.slots) - 1
	for i := int(key) & mask; t.slots[i].ref != 0; i = (i + 1) & mask {
		if s := &t.slots[i]; s.key == key && s.hash == h {
			return true
		}
	}
	return false
}

// insertAt returns a free slot for a client not in t, growing t first
// when it is 7/8 full.
func (t *table) insertAt(key uint64, sl *slab) int {
	if (t.n+1)*8 > len(t.slots)*7 {
		t.grow()
	}
	t.n++
	mask := len(t.slots) - 1
	i := int(key) & mask
	for t.slots[i].ref != 0 {
		i = (i + 1) & mask
	}
	return i
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, max(4, 2*len(old)))
	mask := len(t.slots) - 1
	for _, s := range old {
		if s.ref == 0 {
			continue
		}
		i := int(s.key) & mask
		for t.slots[i].ref != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}
