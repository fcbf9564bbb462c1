package bus

import (
	"errors"
	"log/slog"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// Source is how records from another node arrived.
type Source uint8

// Sources of Ingest.
const (
	// FromFlood: a flood message on herd.at.<self>.
	FromFlood Source = iota
	// FromRepair: an anti-entropy exchange.
	FromRepair
)

func (s Source) String() string {
	if s == FromRepair {
		return "repair"
	}
	return "flood"
}

// Ingest is the one path by which records from another node enter this
// one, by the flood or by anti-entropy (src): "store, then relay".
//
// It refuses everything when sender is not a current neighbor
// (ErrNotNeighbor). Otherwise, for each LF-separated line of data, it
// parses the AT record (refusing a line that is not one, or, from the
// flood, whose origin is not origin), passes it to seen when set (the
// record aliases data: clone it to keep it), stores it if newer, and
// relays a stored record to every neighbor but its origin and sender. It
// returns how many records it stored. Refusals are counted and logged at
// most once a second per kind.
//
// stamp is the flood's Herd-Stamp (0: none), for latency.
func (b *Bus) Ingest(src Source, sender, origin string, stamp int64, data []byte, seen func(record.Record)) (stored int, err error) {
	if !b.IsNeighbor(sender) {
		b.refuse(src, sender, RefusedNotNeighbor)
		return 0, ErrNotNeighbor
	}
	var now time.Time
	if src == FromFlood && stamp > 0 {
		now = b.cfg.Now()
	}
	// The message's records go to the store in batches (Store.PutViews),
	// which overlaps their cache misses.
	bt, _ := b.batches.Get().(*ingestBatch)
	if bt == nil {
		bt = new(ingestBatch)
	}
	n := 0
	for line := range Lines(data) {
		// r aliases data until the store copies it.
		r, err := record.ParseView(line)
		if err == nil && src == FromFlood && r.Origin() != origin {
			err = errOriginMismatch
		}
		if err != nil {
			b.refuse(src, sender, RefusedBadRecord, "err", err)
			continue
		}
		if seen != nil {
			seen(r)
		}
		bt.recs[n] = r
		if n++; n == len(bt.recs) {
			stored += b.putBatch(src, sender, stamp, now, bt, n)
			n = 0
		}
	}
	stored += b.putBatch(src, sender, stamp, now, bt, n)
	b.batches.Put(bt)
	return stored, nil
}

// ingestBatch is Ingest's scratch: records of one message on their way
// into the store, pooled (Bus.batches) so that a message costs no
// allocation.
type ingestBatch struct {
	recs  [64]record.Record
	newer [64]bool
}

// putBatch stores the first n records of bt if newer and relays those it
// stored to every neighbor but their origin and sender; it returns how
// many it stored. The flood's second copy of a record (the topology's
// triangles) is recognised by the store's filter of recent records,
// before its slot (node/store/recent.go).
func (b *Bus) putBatch(src Source, sender string, stamp int64, now time.Time, bt *ingestBatch, n int) (stored int) {
	if n == 0 {
		return 0
	}
	recs, newer := bt.recs[:n], bt.newer[:n]
	b.store.PutViews(recs, newer)
	for i, r := range recs {
		if src == FromFlood {
			b.cfg.Observe.Received(sender, newer[i])
		}
		if !newer[i] {
			continue
		}
		stored++
		if !now.IsZero() {
			b.cfg.Observe.Latency(now.Sub(time.Unix(0, stamp)))
		}
		b.enqueue(outbound{rec: r, origin: r.Origin(), sender: sender, stamp: stamp})
	}
	clear(recs) // views of the message: the pool keeps none of it alive
	return stored
}

var errOriginMismatch = errors.New("record of another origin than Herd-Origin")

// refuse counts and logs (rate-limited) one refused message or line.
func (b *Bus) refuse(src Source, sender string, why Refusal, args ...any) {
	b.cfg.Observe.Refused(sender, why)
	args = append([]any{"source", src.String(), "sender", sender, "reason", why.String()}, args...)
	b.refusals.LogKind(slog.LevelWarn, src.String()+" "+why.String(), "refused a message or record from another node", args...)
}

// Lines yields the non-empty LF-separated lines of data: the lines of a
// flood or sync payload.
func Lines(data []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			i := 0
			for i < len(data) && data[i] != '\n' {
				i++
			}
			line := data[:i]
			if i < len(data) {
				data = data[i+1:]
			} else {
				data = nil
			}
			if len(line) > 0 && !yield(line) {
				return
			}
		}
	}
}
