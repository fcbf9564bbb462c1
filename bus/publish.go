package bus

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

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
// since it. Each flood message, and each round (a flush through the
// node's connection and a write on every route), costs about the same
// whatever it carries, so under load this bounds rounds to one per window;
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
	if b.cfg.Link != nil {
		b.flushLink()
	}
	return records, messages
}

// send publishes one group and resets it: encoded into the round that
// publishBatch writes to the link (Config.Link, tx.go), or through the
// nats.go connection (publishMsg). Either copies the payload.
func (b *Bus) send(k groupKey, g *group) {
	if b.cfg.Link != nil {
		b.appendFlood(k, g)
	} else {
		b.publishMsg(k, g)
	}
	g.payload = g.payload[:0]
	g.n = 0
}

// publishMsg publishes one group through the nats.go connection.
// nats.Conn.Publish only buffers; the connection's flusher writes it out.
//
// The message and its header map are the publisher's, reused for every
// message: PublishMsg encodes the header and copies the payload into the
// connection's buffer before it returns, and only publishLoop sends.
func (b *Bus) publishMsg(k groupKey, g *group) {
	m := &b.out
	if m.Header == nil {
		m.Header = nats.Header{HeaderOrigin: {""}, HeaderSender: {b.cfg.Name}, HeaderStamp: {""}}
	}
	m.Subject, m.Data = b.subjects.of(k.to), g.payload
	m.Header[HeaderOrigin][0] = k.origin
	b.stamp = strconv.AppendInt(b.stamp[:0], g.stamp, 10)
	m.Header[HeaderStamp][0] = string(b.stamp)
	err := b.conn.PublishMsg(m)
	m.Data = nil
	if err != nil {
		b.cfg.Observe.Dropped(g.n, DropPublishFailed)
		b.cfg.Logger.Warn("flood publish failed", "to", k.to, "records", g.n, "err", err)
		return
	}
	b.cfg.Observe.Published(k.to, g.n)
	if k.origin != b.cfg.Name {
		b.cfg.Observe.Relayed(k.to, g.n)
	}
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
