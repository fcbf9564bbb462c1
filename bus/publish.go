package bus

import (
	"time"

	"github.com/herdhq/herd/bus/record"
)

// Publish floods a record this node originated to every neighbor. It never
// blocks: an idle publisher's round is written by the caller, bounded
// (inline.go); otherwise the record is queued for publishLoop, or dropped
// and counted when the queue is full.
func (b *Bus) Publish(r record.Record) {
	o := [1]outbound{{rec: r, origin: b.cfg.Name, stamp: b.cfg.Now().UnixNano()}}
	b.publish(o[:])
}

// publish writes outs as one round when the publisher is idle, and queues
// them otherwise.
func (b *Bus) publish(outs []outbound) {
	if b.publishInline(outs) {
		return
	}
	for _, o := range outs {
		b.enqueue(o)
	}
}

func (b *Bus) enqueue(o outbound) {
	b.queued.Add(1) // before the send: no inline round may overtake it
	select {
	case b.queue <- o:
	default:
		b.queued.Add(-1)
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
// goes at once (the herd's idle convergence), written by its caller
// (inline.go) without waking this loop.
//
// The window adapts to the load (adapt): it widens while rounds carry few
// records per message and narrows while they carry many, between
// Config.Linger/8 and Config.Linger. At a lower rate the window is wider,
// so that the flood's cost per record does not grow as the rate falls;
// at a higher rate it is narrower, and records wait less.
func (b *Bus) publishLoop() {
	defer b.wg.Done()
	defer b.stopRounds()
	batch := make([]outbound, 0, maxBatch)
	linger := time.NewTimer(0)
	defer linger.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case o := <-b.queue:
			batch = append(batch[:0], o)
		case <-b.kick: // an inline round's carry to finish
			batch = batch[:0]
		}
		if len(batch) > 0 {
			b.pmu.Lock()
			wait := b.window - time.Since(b.last)
			b.pmu.Unlock()
			if wait > 0 {
				linger.Reset(wait)
				select {
				case <-b.ctx.Done():
					return
				case <-linger.C:
				}
			}
		}
	fill:
		for len(batch) > 0 && len(batch) < maxBatch {
			select {
			case o := <-b.queue:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		b.pmu.Lock()
		b.finishCarry()
		if len(batch) > 0 {
			records, messages := b.publishBatch(batch, b.groups)
			b.last = time.Now()
			b.window = adapt(b.window, b.cfg.Linger, records, messages)
			b.rounds[roundLoop].Add(1)
			b.queued.Add(-int64(len(batch)))
		}
		b.pmu.Unlock()
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
	records, messages = b.encodeRound(batch, groups)
	b.flushLink()
	return records, messages
}

// encodeRound encodes batch, coalesced, into the round (b.tx) and returns
// how many records it holds in how many messages.
func (b *Bus) encodeRound(batch []outbound, groups map[groupKey]*group) (records, messages int) {
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
	return records, messages
}

// send encodes one group into the round (tx.go), which copies the
// payload, and resets the group.
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
