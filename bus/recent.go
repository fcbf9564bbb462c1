package bus

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// recent remembers the lines Ingest put into the store lately, by hash,
// in a small direct-mapped table: a line seen again is a duplicate that
// the store would refuse as not newer (it holds that record or a newer
// one, and never goes back), so Ingest counts it stale without a store
// lookup. Each record reaches most nodes twice within milliseconds (the
// topology's triangles), so half of what a node receives is such a
// duplicate; a store lookup misses the cache on a large table, this
// table (64 KiB) does not.
//
// A slot holds the last hash that mapped to it; a line whose slot was
// overwritten since simply goes to the store. Slots are atomic: the flood
// link and anti-entropy exchanges ingest concurrently.
type recent struct {
	slots [recentSlots]atomic.Uint64
}

// recentSlots is the table's size: at 100,000 records a second stored by
// a node, a line stays about 80 ms, far longer than a duplicate takes
// through the triangle.
const recentSlots = 1 << 13

// hash is a line's hash; 0 is kept for an empty slot.
func (*recent) hash(line string) uint64 { return xxhash.Sum64String(line) | 1 }

func (t *recent) has(h uint64) bool { return t.slots[h%recentSlots].Load() == h }

func (t *recent) add(h uint64) { t.slots[h%recentSlots].Store(h) }
