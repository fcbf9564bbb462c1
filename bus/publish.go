package bus

import (
	"time"

	"github.com/herdhq/herd/bus/record"
)

// Publish floods a record this node originated to every neighbor. It never
// blocks: when the queue is full the record is dropped and counted.
func (b *Bus) Publish(r record.Record) {
	b.enqueue(outbound{rec: r, origin: b.cfg.Name, stamp: b.cfg.Now().UnixNano()})
}

func (b *Bus) enqueue(o outbound) {
	select {
	case b.queue <- o:
	default:
		b.cfg.Observe.Dropped(1, DropQueueFull)
	}
}

// maxBatch bounds records taken from the queue per round, so one busy
// round cannot starve the flush that makes it visible.
const maxBatch = 4096

// publishLoop drains the queue and publishes. Records that are ready
// together are coalesced per neighbor and origin into one message (the
// protocol allows several lines per message when they share the origin),
// so a busy node pays the per-message cost once per batch, not per record.
//
// A busy node also waits: when the previous round was published less than
// the window ago, the loop gathers records until the window has passed
// since it. Each flood message, and each round (a write on the link and
// on every route), costs about the same whatever it carries, so under
// load this bounds rounds to one per window;
// a record that comes after a quiet spell longer than the window still
// goes at once (the herd's idle convergence).
//
// The window adapts to the load (adapt): it widens while rounds carry few
// records per message and narrows while they carry many, between
// Config.Linger/8 and Config.Linger. At a lower rate the window is wider,
// so that the flood's cost per record does not grow as the rate falls;
// at a higher rate it is narrower, and records wait less.
func (b *Bus) publishLoop() {
	defer b.wg.Done()
	batch := make([]outbound, 0, maxBatch)
	groups := make(map[groupKey]*group)
	linger := time.NewTimer(0)
	defer linger.Stop()
	var last time.Time // when the previous round was published
	window := b.cfg.Linger / 8
	for {
		select {
		case <-b.ctx.Done():
			return
		case o := <-b.queue:
			batch = append(batch[:0], o)
		}
		if wait := window - time.Since(last); wait > 0 {
			linger.Reset(wait)
			select {
			case <-b.ctx.Done():
				return
			case <-linger.C:
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-b.queue:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		records, messages := b.publishBatch(batch, groups)
		last = time.Now()
		window = adapt(window, b.cfg.Linger, records, messages)
		clear(batch) // drop record references
	}
}

// Records per flood message the window aims at: enough that a message's
// fixed cost is shared, few enough that records barely wait.
const (
	perMessageLow  = 4
	perMessageHigh = 16
)

// adapt returns the next publish window after a round that published
// records in messages: twice as wide when messages carried fewer than
// perMessageLow records, half as wide when more than perMessageHigh,
// within [widest/8, widest].
func adapt(window, widest time.Duration, records, messages int) time.Duration {
	switch {
	case messages == 0:
	case records < perMessageLow*messages:
		window *= 2
	case records > perMessageHigh*messages:
		window /= 2
	}
	return min(max(window, widest/8), widest)
}

type groupKey struct{ to, origin string }

type group struct {
	payload []byte
	n       int
	stamp   int64 // oldest stamp of the group's records
}

// publishBatch publishes batch, coalesced, and returns how many records
// it published in how many messages.
func (b *Bus) publishBatch(batch []outbound, groups map[groupKey]*group) (records, messages int) {
	nbrs := b.Neighbors()
	var order []groupKey // publish in first-seen order for fairness
	for _, o := range batch {
		for _, to := range nbrs {
			if to == o.origin || to == o.sender {
				continue
			}
			k := groupKey{to, o.origin}
			g := groups[k]
			if g == nil {
				g = &group{}
				groups[k] = g
			}
			if g.n == 0 {
				order = append(order, k)
				g.stamp = o.stamp
			} else if len(g.payload)+1+len(o.rec.Line) > b.cfg.MaxPayload {
				records += g.n
				messages++
				b.send(k, g)
				order = append(order, k)
				g.stamp = o.stamp
			}
			if g.n > 0 {
				g.payload = append(g.payload, '\n')
			}
			g.payload = append(g.payload, o.rec.Line...)
			g.n++
			g.stamp = min(g.stamp, o.stamp)
		}
	}
	for _, k := range order {
		if g := groups[k]; g.n > 0 {
			records += g.n
			messages++
			b.send(k, g)
		}
	}
	b.flushLink()
	return records, messages
}

// send encodes one group into the round that publishBatch writes to the
// link (tx.go), which copies the payload, and resets the group.
func (b *Bus) send(k groupKey, g *group) {
	b.appendFlood(k, g)
	g.payload = g.payload[:0]
	g.n = 0
}

// subjects caches the flood subject of each neighbor, so that a message
// does not build its subject string.
type subjects map[string]string

func (s subjects) of(node string) string {
	subj, ok := s[node]
	if !ok {
		subj = Subject(node)
		s[node] = subj
	}
	return subj
}
