package store

import "sync/atomic"

// recent remembers the hashes (digest.Hash) of the records the store
// took lately, so that the flood's duplicates — each record reaches most
// nodes twice, by both sides of a triangle, a few milliseconds apart — are
// recognised before the full path of a Put: no client key, no shard lock,
// and above all no miss on the client's slot in a table far larger than
// the caches. It is direct-mapped by the hash's low bits and lossy: a
// record whose entry was taken by another falls through to the slot,
// which recognises it as before.
//
// A hit is exact as far as the digests are: a record hashing like one the
// store took is equal to it under record.Compare (the hash covers what
// the order compares), so it is not newer than the client's current
// record, which is that one or a newer one. Records are never removed, so
// an entry never goes stale. Each Put compares one entry, as the slot
// compares one hash.
type recent struct {
	hashes [recentSize]atomic.Uint64 // 0: empty
}

// recentSize is the number of entries: 256 KiB, about a third of a second
// of records stored by a node of a saturated herd, and seconds at paced
// rates, where the second copy comes within milliseconds.
const recentSize = 1 << 15

func (c *recent) has(h uint64) bool { return h != 0 && c.hashes[h&(recentSize-1)].Load() == h }

func (c *recent) add(h uint64) { c.hashes[h&(recentSize-1)].Store(h) }
