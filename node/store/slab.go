package store

import (
	"encoding/binary"
	"math/rand/v2"
	"unsafe"

	"github.com/herdhq/herd/bus/record"
)

// slab keeps one shard's AT lines in large byte chunks, so that the
// records of a store are a few hundred pointer-free allocations the
// garbage collector never scans, rather than one string per client.
//
// A record is written once — a header of uvarints (the line's length and
// its field offsets, as deltas: a byte each for usual lines) then the
// line's bytes — and never changed: the strings Get and Range hand out
// alias the chunks. A record that is replaced becomes garbage in its
// chunk; compact copies the live ones into fresh chunks once garbage
// outweighs half the live bytes, and drops the old chunks, which the
// garbage collector frees when no string refers to them any more.
type slab struct {
	chunks [][]byte // each filled within its capacity, never moved
	live   int      // bytes of current records, headers included
	used   int      // bytes written to the chunks
	// skew moves this slab's compaction threshold off half the live
	// bytes, by skew/1024 of them (newSkew). Under an even churn every
	// shard of every store reaches an unskewed threshold at the same
	// moment, and the herd's five stores compacting 64 shards at once
	// held both cores for ~70 ms every ~2.7 s at 20,000 IAMAT/s: the
	// reply tail (BENCHMARKS.md, engine round 3). Skewed, they spread.
	skew int16
}

// Chunk sizes: a small store starts small; a large one allocates 256 KiB
// at a time (the last chunk of a shard is half empty on average).
const (
	minChunk = 4 << 10
	maxChunk = 256 << 10
)

// A ref locates a record in 29 bits: chunk index + 1 above bit 18, byte
// offset below (chunks hold at most maxChunk bytes, or one longer record
// at offset 0). Bits 29-31 are the table's (settledMask, queuedBit). 0 is
// none.
const (
	refChunkShift = 18
	refOffMask    = 1<<refChunkShift - 1
	refMask       = 1<<settledShift - 1
	// maxChunks bounds a shard's chunks (about 512 MiB of records at maxChunk):
	// the shard compacts before it would need more.
	maxChunks = refMask>>refChunkShift - 1
)

// maxHeader is the longest record header: five uvarints.
const maxHeader = 5 * binary.MaxVarintLen32

// add writes r and returns its ref and the line as stored, which
// aliases the chunk.
func (s *slab) add(r record.Record) (uint32, string) {
	var hdr [maxHeader]byte
	oe, cs, ce, le := r.Offsets()
	h := binary.AppendUvarint(hdr[:0], uint64(len(r.Line)))
	h = binary.AppendUvarint(h, uint64(oe))
	h = binary.AppendUvarint(h, uint64(cs-oe))
	h = binary.AppendUvarint(h, uint64(ce-cs))
	h = binary.AppendUvarint(h, uint64(le-ce))
	n := len(h) + len(r.Line)
	k, c := s.room(n)
	off := len(c)
	c = append(c, h...)
	c = append(c, r.Line...)
	s.chunks[k] = c
	s.used += n
	s.live += n
	return uint32(k+1)<<refChunkShift | uint32(off), unsafe.String(&c[off+len(h)], len(r.Line))
}

// room returns the last chunk, k, after adding one if it has no room for
// n more bytes at an offset a ref can hold.
func (s *slab) room(n int) (k int, c []byte) {
	if k = len(s.chunks) - 1; k >= 0 {
		c = s.chunks[k]
	}
	if c == nil || cap(c)-len(c) < n || len(c) > refOffMask {
		size := minChunk
		if c != nil {
			size = min(max(2*cap(c), minChunk), maxChunk)
		}
		c = make([]byte, 0, max(size, n))
		s.chunks = append(s.chunks, c)
		k = len(s.chunks) - 1
	}
	return k, c
}

// span is where the record at ref lies in its chunk: the header's first
// byte and the bytes it takes, header included.
func (s *slab) span(ref uint32) (c []byte, off, n int) {
	ref &= refMask
	c = s.chunks[ref>>refChunkShift-1]
	off = int(ref & refOffMask)
	p := off
	size, w := binary.Uvarint(c[p:])
	p += w
	for range 4 {
		_, w = binary.Uvarint(c[p:])
		p += w
	}
	return c, off, p - off + int(size)
}

// addRaw copies the record at ref in from, header and line as they are,
// and returns its ref here: compaction, which re-encodes nothing.
func (s *slab) addRaw(from *slab, ref uint32) uint32 {
	src, off, n := from.span(ref)
	k, c := s.room(n)
	at := len(c)
	s.chunks[k] = append(c, src[off:off+n]...)
	s.used += n
	s.live += n
	return uint32(k+1)<<refChunkShift | uint32(at)
}

// reserve starts the slab with a chunk of about n bytes (compaction
// knows how much it will copy).
func (s *slab) reserve(n int) {
	s.chunks = append(s.chunks, make([]byte, 0, min(max(n, minChunk), maxChunk)))
}

// record returns the record at ref; its Line aliases the chunk. n is the
// bytes it takes, header included.
func (s *slab) record(ref uint32) (r record.Record, n int) {
	ref &= refMask
	c := s.chunks[ref>>refChunkShift-1]
	off := int(ref & refOffMask)
	p := off
	next := func() uint32 {
		v, w := binary.Uvarint(c[p:])
		p += w
		return uint32(v)
	}
	size := next()
	oe := next()
	cs := oe + next()
	ce := cs + next()
	le := ce + next()
	line := unsafe.String(&c[p], int(size))
	return record.Assemble(line, oe, cs, ce, le), p - off + int(size)
}

// wasteful reports whether compacting is worth it: garbage above about
// half the live bytes (skewed), and above a floor so that small stores
// do not churn.
func (s *slab) wasteful() bool {
	garbage := s.used - s.live
	return garbage > s.live*(512+int(s.skew))/1024 && garbage > 64<<10 || len(s.chunks) >= maxChunks
}

// maxSkew bounds a slab's skew: thresholds from 3/8 to 5/8 of the live
// bytes, so that the garbage held on average stays what a threshold of
// one half gives (the memory per record does not grow).
const maxSkew = 128

// newSkew draws a slab's skew, uniform in [-maxSkew, maxSkew].
func newSkew() int16 { return int16(rand.IntN(2*maxSkew+1) - maxSkew) }

// touch loads the record at ref, its first byte and the one a cache line
// further (a record of a usual line spans two or three: the client name
// and the time that lookup and record.Newer read), and returns their sum:
// PutViews loads it ahead of reading it (batch.go).
func (s *slab) touch(ref uint32) uint64 {
	ref &= refMask
	c := s.chunks[ref>>refChunkShift-1]
	off := int(ref & refOffMask)
	v := uint64(c[off])
	if off+64 < len(c) {
		v += uint64(c[off+64])
	}
	return v
}
